// Corridors planner map. Plain ES module, no build step; Leaflet is served by the service
// from its npm installation. The base map is the road network itself (no internet tiles).
import * as L from "../vendor/leaflet/leaflet-src.esm.js";
import { ApiError, apiRequest, keyStore, randomId } from "./api.js";

const GEOJSON = "application/geo+json";

export const LEVEL_COLORS = {
  low: "#2e7d32",
  medium: "#d4a000",
  high: "#ef6c00",
  very_high: "#c62828",
  unacceptable: "#3d0a4f",
};
const LEVEL_WORDS = {
  low: "low",
  medium: "medium",
  high: "high",
  very_high: "very high",
  unacceptable: "unacceptable",
};
const RECOMMENDATION_WORDS = {
  none: "No escort needed",
  police_escort: "Police escort",
  armed_escort: "Armed escort (last resort)",
  do_not_travel: "Do not travel",
};
const ALTERNATIVE_WORDS = {
  safer_route: "Safer route",
  departure_shift: "Other departure time",
  police_escort: "Police escort",
  armed_escort: "Armed escort",
};
const MAJOR_ROADS = new Set(["motorway", "trunk", "primary", "motorway_link", "trunk_link", "primary_link"]);
const MIDDLE_ROADS = new Set(["secondary", "tertiary", "secondary_link", "tertiary_link"]);
// Port-au-Prince, until the graph's own extent is known.
const DEFAULT_CENTRE = [18.54, -72.33];

const $ = (id) => document.getElementById(id);

const state = {
  graph: null,
  origin: null, // {lon, lat}
  destination: null,
  incident: null,
  routesDoc: null,
  selected: 0,
  markers: { origin: null, destination: null, incident: null },
};

// --- small helpers ------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function definitionList(rows) {
  const dl = el("dl");
  for (const [term, value] of rows) {
    if (value === undefined || value === null || value === "") continue;
    dl.append(el("dt", { text: term }), el("dd", { text: String(value) }));
  }
  return dl;
}

function popupContent(title, rows) {
  return el("div", { class: "popup" }, el("h3", { text: title }), definitionList(rows));
}

const round6 = (x) => Math.round(x * 1e6) / 1e6;
const words = (s) => String(s ?? "").replaceAll("_", " ");
const km = (m) => `${(m / 1000).toFixed(1)} km`;
const minutes = (s) => (s >= 3600 ? `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min` : `${Math.round(s / 60)} min`);
const yesNo = (b) => (b ? "yes" : "no");

function formatTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return `${d.toLocaleString()} (${d.toISOString().slice(0, 16).replace("T", " ")} UTC)`;
}

/** The ISO 8601 UTC form of a datetime-local input, or null when empty. */
function inputInstant(input) {
  if (!input.value) return null;
  const d = new Date(input.value);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

function parseLonLat(text) {
  const parts = String(text).split(/[\s,;]+/).filter(Boolean).map(Number);
  if (parts.length !== 2 || parts.some((v) => !Number.isFinite(v))) return null;
  const [lon, lat] = parts;
  if (Math.abs(lon) > 180 || Math.abs(lat) > 90) return null;
  return { lon, lat };
}

const formatLonLat = (p) => (p ? `${p.lon.toFixed(5)}, ${p.lat.toFixed(5)}` : "");

function say(text) {
  $("message").textContent = text;
}

function showError(err, context = "") {
  const box = $("error");
  let text = err instanceof ApiError ? err.message : String(err?.message || err);
  if (err instanceof ApiError && err.problem && Array.isArray(err.problem.errors) && err.problem.errors.length > 1) {
    const more = err.problem.errors
      .slice(0, 4)
      .map((e) => e.msg || e.message || e.error || JSON.stringify(e))
      .join("; ");
    text = `${text} (${more})`;
  }
  box.textContent = context ? `${context}: ${text}` : text;
  box.hidden = false;
  if (err instanceof ApiError && err.status === 401) {
    $("key-section").open = true;
    $("key-status").textContent = "The service refused the key: enter a valid one.";
  }
}

function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

// --- the map ------------------------------------------------------------------------------

const map = L.map("map", {
  center: DEFAULT_CENTRE,
  zoom: 12,
  minZoom: 8,
  maxZoom: 19,
  keyboard: true,
  zoomSnap: 0.5,
  attributionControl: true,
});
map.attributionControl.setPrefix("Leaflet");
L.control.scale({ imperial: false }).addTo(map);

for (const [name, z] of [["network", 350], ["zones", 380], ["risk", 410], ["routes", 450], ["hotspots", 620]]) {
  map.createPane(name).style.zIndex = String(z);
}
const renderers = {
  network: L.canvas({ pane: "network", padding: 0.5 }),
  risk: L.canvas({ pane: "risk", padding: 0.5, tolerance: 4 }),
  zones: L.svg({ pane: "zones" }),
  routes: L.svg({ pane: "routes" }),
};

const layers = {
  network: L.layerGroup().addTo(map),
  zones: L.layerGroup().addTo(map),
  risk: L.layerGroup().addTo(map),
  reports: L.layerGroup().addTo(map),
  routes: L.layerGroup().addTo(map),
  hotspots: L.layerGroup().addTo(map),
  points: L.layerGroup().addTo(map),
};

function pinIcon(kind, label) {
  return L.divIcon({
    className: "",
    html: `<div class="pin pin-${kind}">${label}</div>`,
    iconSize: [26, 26],
    iconAnchor: [13, 13],
    popupAnchor: [0, -12],
  });
}

function setPoint(which, point, { fromInput = false } = {}) {
  state[which] = point;
  const input = { origin: $("origin"), destination: $("destination"), incident: $("report-location") }[which];
  if (!fromInput) input.value = formatLonLat(point);
  const old = state.markers[which];
  if (old) layers.points.removeLayer(old);
  state.markers[which] = null;
  if (!point) return;
  const label = { origin: "A", destination: "B", incident: "!" }[which];
  const title = { origin: "Origin", destination: "Destination", incident: "Incident location" }[which];
  const marker = L.marker([point.lat, point.lon], {
    icon: pinIcon(which === "incident" ? "incident" : which, label),
    draggable: true,
    keyboard: true,
    title: `${title} (drag to move)`,
    alt: title,
    zIndexOffset: 1000,
  });
  marker.on("dragend", () => {
    const ll = marker.getLatLng();
    state[which] = { lon: round6(ll.lng), lat: round6(ll.lat) };
    input.value = formatLonLat(state[which]);
  });
  marker.addTo(layers.points);
  state.markers[which] = marker;
}

function clickMode() {
  return document.querySelector('input[name="click-mode"]:checked')?.value || "route";
}

map.on("click", (event) => {
  const point = { lon: round6(event.latlng.lng), lat: round6(event.latlng.lat) };
  if (clickMode() === "report") {
    setPoint("incident", point);
    $("report-section").open = true;
    say(`Incident location set at ${formatLonLat(point)}. Fill in the report and submit.`);
    return;
  }
  if (!state.origin) {
    setPoint("origin", point);
    say("Origin set. Click the map again for the destination.");
  } else if (!state.destination) {
    setPoint("destination", point);
    say("Destination set. Press Route.");
  } else {
    say("Origin and destination are set: press Reset to choose again, or drag the A and B markers.");
  }
});

function centrePoint() {
  const c = map.getCenter();
  return { lon: round6(c.lng), lat: round6(c.lat) };
}

// --- layers from the service ---------------------------------------------------------------

function bboxParam() {
  const b = state.graph?.bbox;
  return b ? b.map((v) => v.toFixed(6)).join(",") : null;
}

function riskInstant() {
  return inputInstant($("depart-at"));
}

async function loadGraphInfo() {
  const doc = await apiRequest("v1/graph");
  state.graph = doc;
  const info = $("graph-info");
  info.replaceChildren();
  const source = String(doc.source || "").split("/").pop();
  info.append(`${source} · ${doc.nodes} nodes · ${doc.edges} road segments`);
  if (doc.osm_timestamp) info.append(` · OSM data of ${String(doc.osm_timestamp).slice(0, 10)}`);
  if (doc.demo) {
    info.append(" ", el("span", { class: "demo-badge", text: "DEMO network: approximate, not for navigation" }));
  }
  const [minLon, minLat, maxLon, maxLat] = doc.bbox;
  map.fitBounds([[minLat, minLon], [maxLat, maxLon]], { padding: [10, 10] });
  map.setMaxBounds(L.latLngBounds([[minLat, minLon], [maxLat, maxLon]]).pad(0.5));
  const note = doc.demo ? "Road network: approximate demo data" : "Road network © OpenStreetMap contributors (ODbL)";
  map.attributionControl.addAttribution(note);
  $("attribution-note").textContent = note + ".";
}

function networkStyle(feature) {
  const highway = feature.properties.highway;
  if (MAJOR_ROADS.has(highway)) return { color: "#56606a", weight: 4, opacity: 0.9 };
  if (MIDDLE_ROADS.has(highway)) return { color: "#6f7983", weight: 3, opacity: 0.85 };
  return { color: "#98a1a9", weight: 1.8, opacity: 0.85 };
}

async function loadNetwork() {
  const fc = await apiRequest("v1/graph/network", { accept: GEOJSON });
  layers.network.clearLayers();
  L.geoJSON(fc, { renderer: renderers.network, interactive: false, style: networkStyle }).addTo(layers.network);
  $("map").dataset.networkFeatures = String(fc.features.length);
  return fc.features.length;
}

async function loadRisk() {
  const params = new URLSearchParams();
  const bbox = bboxParam();
  if (bbox) params.set("bbox", bbox);
  const at = riskInstant();
  if (at) params.set("at", at);
  const fc = await apiRequest(`v1/risk?${params}`, { accept: GEOJSON });
  layers.risk.clearLayers();
  // The service lists the riskiest first; draw them last so they stay on top.
  const features = [...(fc.features || [])].reverse();
  L.geoJSON(
    { type: "FeatureCollection", features },
    {
      renderer: renderers.risk,
      style: (f) => ({ color: LEVEL_COLORS[f.properties.level] || "#555", weight: 6, opacity: 0.85, lineCap: "round" }),
      onEachFeature: (f, layer) => {
        const p = f.properties;
        const reports = Array.isArray(p.reports) ? p.reports.length : 0;
        const basis = reports ? ` (${reports} report${reports === 1 ? "" : "s"})` : "";
        layer.bindTooltip(
          `${escapeHtml(p.street || "road")}: ${escapeHtml(LEVEL_WORDS[p.level] || p.level)} risk, ` +
            `${Number(p.risk).toFixed(2)} per km${basis}`,
          { sticky: true },
        );
      },
    },
  ).addTo(layers.risk);
  return features.length;
}

function escapeHtml(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function reportPopup(p) {
  return popupContent(words(p.category), [
    ["Severity", `${p.severity} of 5`],
    ["Occurred", formatTime(p.occurred_at)],
    ["Status", p.status],
    ["Fatalities", p.fatalities],
    ["Uncertainty", p.uncertainty_m !== undefined ? `${Math.round(p.uncertainty_m)} m` : null],
    ["Reliability", [p.source_reliability, p.credibility].filter((v) => v !== null && v !== undefined).join("") || null],
    ["Source", p.source],
    ["Description", p.description],
    ["Expires", p.expires_at ? formatTime(p.expires_at) : null],
    ["Id", p.id],
  ]);
}

async function loadReports() {
  const at = riskInstant();
  const now = at ? new Date(at) : new Date();
  const features = [];
  let cursor = null;
  for (let page = 0; page < 10; page += 1) {
    const params = new URLSearchParams({ status: "active,verified", limit: "1000" });
    const bbox = bboxParam();
    if (bbox) params.set("bbox", bbox);
    if (at) params.set("until", at);
    if (cursor) params.set("cursor", cursor);
    const fc = await apiRequest(`v1/reports?${params}`, { accept: GEOJSON });
    features.push(...(fc.features || []));
    cursor = fc.next_cursor;
    if (!cursor) break;
  }
  layers.reports.clearLayers();
  let shown = 0;
  for (const f of features) {
    const p = { id: f.id, ...f.properties };
    if (p.expires_at && new Date(p.expires_at) <= now) continue;
    const [lon, lat] = f.geometry.coordinates;
    const severity = Math.min(5, Math.max(1, Number(p.severity) || 1));
    const marker = L.marker([lat, lon], {
      icon: L.divIcon({
        className: "",
        html: `<div class="pin report-pin sev-${severity} status-${p.status === "verified" ? "verified" : "active"}">${severity}</div>`,
        iconSize: [22, 22],
        iconAnchor: [11, 11],
        popupAnchor: [0, -10],
      }),
      keyboard: true,
      title: `${words(p.category)}, severity ${severity}`,
      alt: `Report: ${words(p.category)}, severity ${severity}`,
    });
    marker.bindPopup(() => reportPopup(p));
    marker.addTo(layers.reports);
    shown += 1;
  }
  return shown;
}

async function loadZones() {
  const fc = await apiRequest("v1/zones", { accept: GEOJSON });
  layers.zones.clearLayers();
  L.geoJSON(fc, {
    renderer: renderers.zones,
    style: (f) => {
      const noGo = f.properties.kind === "no_go";
      const active = f.properties.active !== false;
      return {
        color: noGo ? "#8b0000" : "#c25e00",
        weight: 2,
        dashArray: active ? null : "6 6",
        fillColor: noGo ? "#b71c1c" : "#ef6c00",
        fillOpacity: active ? (noGo ? 0.22 : 0.14) : 0.05,
      };
    },
    onEachFeature: (f, layer) => {
      const p = f.properties;
      const parts = [`${escapeHtml(p.name || "zone")}: ${p.kind === "no_go" ? "no-go zone" : `caution zone (risk ×${Number(p.multiplier || 1)})`}`];
      if (p.active === false) parts.push(`from ${escapeHtml(formatTime(p.valid_from))}`);
      else if (p.valid_until) parts.push(`until ${escapeHtml(formatTime(p.valid_until))}`);
      layer.bindTooltip(parts.join(", "), { sticky: true });
    },
  }).addTo(layers.zones);
  return (fc.features || []).length;
}

const layerStatus = {};

function showLayerStatus() {
  $("layer-status").textContent = Object.entries(layerStatus)
    .map(([name, value]) => `${name}: ${value}`)
    .join(" · ");
}

async function loadLayer(name, loader) {
  try {
    const count = await loader();
    layerStatus[name] = String(count);
    return null;
  } catch (err) {
    layerStatus[name] = "not available";
    return { name, err };
  } finally {
    showLayerStatus();
  }
}

async function loadOverlays({ network = false } = {}) {
  if (!keyStore.get()) {
    say("Enter an API key to load the road network, risk, reports and zones.");
    return;
  }
  const jobs = [];
  if (network) jobs.push(loadLayer("roads", loadNetwork));
  jobs.push(loadLayer("risky segments", loadRisk), loadLayer("reports", loadReports), loadLayer("zones", loadZones));
  const failures = (await Promise.all(jobs)).filter(Boolean);
  if (network && !state.origin) {
    say("Map loaded. Click the map to set the origin, then the destination.");
  }
  if (failures.length) {
    const first = failures[0];
    showError(first.err, `Could not load ${failures.map((f) => f.name).join(", ")}`);
  }
  $("map").dataset.loaded = "true";
}

// --- routes and the escort panel ------------------------------------------------------------

function haversineM(a, b) {
  const r = 6371008.8;
  const toRad = Math.PI / 180;
  const dLat = (b[1] - a[1]) * toRad;
  const dLon = (b[0] - a[0]) * toRad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a[1] * toRad) * Math.cos(b[1] * toRad) * Math.sin(dLon / 2) ** 2;
  return 2 * r * Math.asin(Math.sqrt(h));
}

/** The [lon, lat] point `distanceM` metres along a LineString's coordinates. */
function pointAlong(coords, distanceM) {
  let walked = 0;
  for (let i = 1; i < coords.length; i += 1) {
    const step = haversineM(coords[i - 1], coords[i]);
    if (walked + step >= distanceM && step > 0) {
      const t = (distanceM - walked) / step;
      return [coords[i - 1][0] + t * (coords[i][0] - coords[i - 1][0]), coords[i - 1][1] + t * (coords[i][1] - coords[i - 1][1])];
    }
    walked += step;
  }
  return coords[coords.length - 1];
}

function lineLengthM(coords) {
  let total = 0;
  for (let i = 1; i < coords.length; i += 1) total += haversineM(coords[i - 1], coords[i]);
  return total;
}

function hotspotPosition(route, hotspot) {
  const coords = route.geometry?.coordinates || [];
  if (!coords.length) return null;
  const geomLength = lineLengthM(coords);
  const scale = route.distance_m > 0 ? geomLength / route.distance_m : 1;
  const middle = ((Number(hotspot.from_m) + Number(hotspot.to_m)) / 2) * scale;
  return pointAlong(coords, middle);
}

/** Close hover tooltips: a line drawn under a still cursor would leave them stuck open. */
function closeTooltips() {
  for (const name of ["risk", "zones", "routes"]) {
    layers[name].eachLayer(function close(layer) {
      if (typeof layer.eachLayer === "function") layer.eachLayer(close);
      if (typeof layer.closeTooltip === "function") layer.closeTooltip();
    });
  }
}

function drawRoutes() {
  closeTooltips();
  const doc = state.routesDoc;
  layers.routes.clearLayers();
  layers.hotspots.clearLayers();
  if (!doc) return;
  const routes = doc.routes || [];
  // Unselected routes first, the selected one last so it is drawn on top.
  const order = routes.map((_, i) => i).filter((i) => i !== state.selected).concat([state.selected]);
  for (const i of order) {
    const route = routes[i];
    if (!route?.geometry?.coordinates) continue;
    const selected = i === state.selected;
    const latlngs = route.geometry.coordinates.map(([lon, lat]) => [lat, lon]);
    const color = LEVEL_COLORS[route.risk?.level] || "#1d3557";
    const casing = L.polyline(latlngs, {
      renderer: renderers.routes,
      color: "#ffffff",
      weight: selected ? 12 : 9,
      opacity: selected ? 0.95 : 0.7,
      bubblingMouseEvents: false,
    });
    const line = L.polyline(latlngs, {
      renderer: renderers.routes,
      color,
      weight: selected ? 7 : 5,
      opacity: selected ? 1 : 0.75,
      dashArray: selected ? null : "10 8",
      bubblingMouseEvents: false,
      className: `route-line route-${i}`,
    });
    const tip = `${route.label || `route ${i}`}: ${km(route.distance_m)}, ${minutes(route.duration_s)}, ${LEVEL_WORDS[route.risk?.level] || "?"} risk`;
    for (const part of [casing, line]) {
      part.bindTooltip(escapeHtml(tip), { sticky: true });
      part.on("click", () => selectRoute(i));
      part.addTo(layers.routes);
    }
  }
  const route = routes[state.selected];
  for (const hotspot of route?.risk?.hotspots || []) {
    const at = hotspotPosition(route, hotspot);
    if (!at) continue;
    const marker = L.marker([at[1], at[0]], {
      pane: "hotspots",
      icon: L.divIcon({ className: "", html: '<div class="pin hotspot-pin">!</div>', iconSize: [24, 24], iconAnchor: [12, 12], popupAnchor: [0, -10] }),
      keyboard: true,
      title: `Hotspot on ${hotspot.street || "the route"}`,
      alt: "Hotspot",
    });
    marker.bindPopup(() =>
      popupContent(`Hotspot: ${hotspot.street || "road"}`, [
        ["Where", `km ${(hotspot.from_m / 1000).toFixed(1)}–${(hotspot.to_m / 1000).toFixed(1)} of the route`],
        ["Risk", `${Number(hotspot.risk).toFixed(2)} per km`],
        ["Reports", (hotspot.reports || []).length ? (hotspot.reports || []).join(", ") : null],
      ]),
    );
    marker.addTo(layers.hotspots);
  }
}

function describeAlternative(alt) {
  const bits = [];
  if (alt.depart_at) bits.push(`departing ${formatTime(alt.depart_at)}`);
  if (alt.distance_m !== null && alt.distance_m !== undefined) bits.push(km(alt.distance_m));
  if (alt.duration_s !== null && alt.duration_s !== undefined) bits.push(minutes(alt.duration_s));
  if (alt.extra_duration_fraction !== null && alt.extra_duration_fraction !== undefined) {
    bits.push(`+${Math.round(alt.extra_duration_fraction * 100)}% time`);
  }
  if (alt.level) bits.push(`${LEVEL_WORDS[alt.level] || alt.level} risk`);
  return bits.join(", ");
}

function fillEscortPanel() {
  const route = state.routesDoc?.routes?.[state.selected];
  const escort = route?.escort || {};
  const risk = route?.risk || {};
  const rec = $("escort-recommendation");
  rec.textContent = RECOMMENDATION_WORDS[escort.recommendation] || words(escort.recommendation) || "unknown";
  rec.className = `badge rec-${escort.recommendation || "unknown"}`;
  $("escort-panel").dataset.recommendation = escort.recommendation || "";
  $("escort-vehicles").textContent = String(escort.escort_vehicles ?? 0);
  $("escort-armored").textContent = yesNo(escort.armored_required);
  $("escort-daylight").textContent = yesNo(escort.daylight_only);
  const riskBits = [`${LEVEL_WORDS[risk.level] || risk.level || "?"}`];
  if (risk.max_edge_risk !== undefined) riskBits.push(`peak ${Number(risk.max_edge_risk).toFixed(2)} per km`);
  if (risk.exposure !== undefined) riskBits.push(`exposure ${Number(risk.exposure).toFixed(2)}`);
  if (risk.high_risk_distance_m) riskBits.push(`${km(risk.high_risk_distance_m)} at high risk or worse`);
  $("route-risk").textContent = riskBits.join(", ");

  const rationale = $("escort-rationale");
  rationale.replaceChildren(...(escort.rationale || []).map((line) => el("li", { text: line })));
  if (!rationale.children.length) rationale.append(el("li", { text: "No reasons given." }));

  const segments = escort.segments || [];
  $("escort-segments-block").hidden = segments.length === 0;
  $("escort-segments").replaceChildren(
    ...segments.map((s) => {
      const streets = Array.isArray(s.streets) && s.streets.length ? `: ${s.streets.join(", ")}` : "";
      return el("li", { text: `km ${(s.from_m / 1000).toFixed(1)}–${(s.to_m / 1000).toFixed(1)}${streets}${s.why ? ` (${s.why})` : ""}` });
    }),
  );

  const alternatives = $("escort-alternatives");
  alternatives.replaceChildren(
    ...(escort.alternatives_considered || []).map((alt) => {
      const kind = typeof alt === "string" ? alt : ALTERNATIVE_WORDS[alt.kind] || words(alt.kind);
      if (typeof alt === "string") return el("li", { text: alt });
      const figures = describeAlternative(alt);
      return el(
        "li",
        {},
        el("span", { class: alt.accepted ? "accepted" : "rejected", text: alt.accepted ? "chosen" : "not chosen" }),
        ` ${kind}${figures ? ` (${figures})` : ""}`,
        alt.reason ? `: ${alt.reason}` : "",
      );
    }),
  );
  if (!alternatives.children.length) alternatives.append(el("li", { text: "None needed." }));

  const hotspots = risk.hotspots || [];
  $("hotspot-list").replaceChildren(
    ...hotspots.map((h) =>
      el("li", { text: `${h.street || "road"}: km ${(h.from_m / 1000).toFixed(1)}–${(h.to_m / 1000).toFixed(1)}, ${Number(h.risk).toFixed(2)} per km` }),
    ),
  );
  if (!hotspots.length) $("hotspot-list").append(el("li", { text: "None." }));
  const policy = escort.policy_version ? `Escort policy ${escort.policy_version}. ` : "";
  const demo = state.routesDoc?.graph?.demo ? "Demo network: approximate, not for navigation." : "";
  $("escort-policy").textContent = policy + demo;
}

function fillRouteList() {
  const routes = state.routesDoc?.routes || [];
  $("route-list").replaceChildren(
    ...routes.map((route, i) => {
      const level = route.risk?.level || "unknown";
      const button = el(
        "button",
        { type: "button", "aria-pressed": i === state.selected ? "true" : "false", "data-rank": String(route.rank ?? i) },
        el("span", {}, el("strong", { text: route.label || `route ${i}` }), " ", el("span", { class: "figures", text: `${km(route.distance_m)} · ${minutes(route.duration_s)}` })),
        el("span", { class: `badge level-${level}`, text: LEVEL_WORDS[level] || level }),
      );
      button.addEventListener("click", () => selectRoute(i));
      return el("li", {}, button);
    }),
  );
}

function selectRoute(i) {
  state.selected = i;
  fillRouteList();
  drawRoutes();
  fillEscortPanel();
}

async function planRoute(event) {
  event.preventDefault();
  clearError();
  const origin = state.origin || parseLonLat($("origin").value);
  const destination = state.destination || parseLonLat($("destination").value);
  if (!origin || !destination) {
    showError(new Error("Set an origin and a destination: click the map twice, or type lon, lat."));
    return;
  }
  const vehicles = Number($("vehicles").value);
  if (!Number.isInteger(vehicles) || vehicles < 1) {
    showError(new Error("Vehicles: give a whole number of at least 1."));
    $("vehicles").focus();
    return;
  }
  const body = {
    origin,
    destination,
    waypoints: [],
    risk_aversion: Number($("risk-aversion").value),
    alternatives: Number($("alternatives").value),
    convoy: {
      vehicles,
      vehicle_class: $("vehicle-class").value,
      cargo: $("cargo").value,
      armored: $("armored").checked,
    },
  };
  const departAt = inputInstant($("depart-at"));
  if (departAt) body.depart_at = departAt;
  const button = $("route-button");
  button.disabled = true;
  button.textContent = "Routing…";
  say("Finding routes…");
  try {
    const doc = await apiRequest("v1/routes", { method: "POST", body });
    state.routesDoc = doc;
    state.selected = 0;
    $("results").hidden = false;
    selectRoute(0);
    $("results").scrollIntoView({ block: "start" });
    const all = (doc.routes || []).filter((r) => r.geometry?.coordinates?.length);
    if (all.length) {
      const bounds = L.latLngBounds(all.flatMap((r) => r.geometry.coordinates.map(([lon, lat]) => [lat, lon])));
      map.fitBounds(bounds, { padding: [40, 40], maxZoom: 16 });
    }
    const first = doc.routes?.[0];
    say(first ? `${doc.routes.length} route${doc.routes.length === 1 ? "" : "s"} found. Recommendation: ${RECOMMENDATION_WORDS[first.escort?.recommendation] || "see the escort panel"}.` : "No route returned.");
  } catch (err) {
    say("");
    showError(err, "Routing failed");
  } finally {
    button.disabled = false;
    button.textContent = "Route";
  }
}

function resetRoute() {
  setPoint("origin", null);
  setPoint("destination", null);
  state.routesDoc = null;
  state.selected = 0;
  layers.routes.clearLayers();
  layers.hotspots.clearLayers();
  $("results").hidden = true;
  $("escort-panel").dataset.recommendation = "";
  clearError();
  say("Cleared. Click the map to set the origin.");
}

// --- incident reports -----------------------------------------------------------------------

let reportIdempotencyKey = randomId();

async function submitReport(event) {
  event.preventDefault();
  clearError();
  const location = state.incident || parseLonLat($("report-location").value);
  if (!location) {
    showError(new Error("Set the incident location: choose report mode and click the map, or type lon, lat."));
    $("report-location").focus();
    return;
  }
  const body = {
    occurred_at: inputInstant($("report-occurred")) || new Date().toISOString(),
    location,
    uncertainty_m: Number($("report-uncertainty").value || 0),
    category: $("report-category").value,
    severity: Number($("report-severity").value),
    fatalities: Number($("report-fatalities").value || 0),
  };
  const source = $("report-source").value.trim();
  if (source) body.source = source;
  const description = $("report-description").value.trim();
  if (description) body.description = description;
  const button = $("report-submit");
  button.disabled = true;
  try {
    const stored = await apiRequest("v1/reports", {
      method: "POST",
      body,
      headers: { "Idempotency-Key": reportIdempotencyKey },
    });
    reportIdempotencyKey = randomId();
    say(`Report stored (${words(stored.category)}, severity ${stored.severity}, id ${stored.id}).`);
    $("report-description").value = "";
    setPoint("incident", null);
    await loadOverlays();
  } catch (err) {
    showError(err, "Report not stored");
  } finally {
    button.disabled = false;
  }
}

// --- API key --------------------------------------------------------------------------------

function showKeyState() {
  const key = keyStore.get();
  $("key-status").textContent = key
    ? `Key ${key.slice(0, 8)}… in use${keyStore.remembered() ? ", remembered on this computer" : " for this tab"}.`
    : "No key entered.";
  $("api-key").value = key ? "********" : "";
  $("api-key").dataset.placeholderValue = key ? "1" : "";
  $("api-key-remember").checked = keyStore.remembered();
}

async function saveKey(event) {
  event.preventDefault();
  const value = $("api-key").value.trim();
  if (!value || $("api-key").dataset.placeholderValue === "1" && value === "********") {
    showKeyState();
    return;
  }
  keyStore.set(value, $("api-key-remember").checked);
  showKeyState();
  clearError();
  $("key-section").open = false;
  await loadOverlays({ network: true });
}

function forgetKey() {
  keyStore.clear();
  showKeyState();
  for (const name of ["network", "risk", "reports", "zones"]) layers[name].clearLayers();
  say("Key forgotten.");
}

// --- wiring ---------------------------------------------------------------------------------

function wire() {
  $("key-form").addEventListener("submit", saveKey);
  $("api-key").addEventListener("focus", () => {
    if ($("api-key").dataset.placeholderValue === "1") $("api-key").select();
  });
  $("api-key-forget").addEventListener("click", forgetKey);
  $("plan-form").addEventListener("submit", planRoute);
  $("reset-button").addEventListener("click", resetRoute);
  $("report-form").addEventListener("submit", submitReport);
  $("refresh").addEventListener("click", () => {
    clearError();
    loadOverlays();
  });
  $("risk-aversion").addEventListener("input", () => {
    $("risk-aversion-value").textContent = Number($("risk-aversion").value).toFixed(2);
  });
  $("depart-at").addEventListener("change", () => loadOverlays());
  for (const [which, input] of [["origin", $("origin")], ["destination", $("destination")], ["incident", $("report-location")]]) {
    input.addEventListener("change", () => {
      if (!input.value.trim()) {
        setPoint(which, null);
        return;
      }
      const point = parseLonLat(input.value);
      if (!point) {
        showError(new Error(`${input.labels?.[0]?.textContent || which}: write lon, lat in degrees, e.g. -72.3381, 18.5392`));
        return;
      }
      clearError();
      setPoint(which, point, { fromInput: true });
    });
  }
  $("origin-centre").addEventListener("click", () => setPoint("origin", centrePoint()));
  $("destination-centre").addEventListener("click", () => setPoint("destination", centrePoint()));
  $("report-centre").addEventListener("click", () => setPoint("incident", centrePoint()));
  const toggles = { "layer-network": "network", "layer-risk": "risk", "layer-reports": "reports", "layer-zones": "zones" };
  for (const [id, name] of Object.entries(toggles)) {
    $(id).addEventListener("change", (e) => {
      if (e.target.checked) map.addLayer(layers[name]);
      else map.removeLayer(layers[name]);
    });
  }
}

async function start() {
  wire();
  showKeyState();
  if (keyStore.get()) $("key-section").open = false;
  try {
    await loadGraphInfo();
  } catch (err) {
    $("graph-info").textContent = "Road network unavailable.";
    showError(err, "Could not read the road graph");
    return;
  }
  await loadOverlays({ network: true });
}

// For debugging in the browser console and for the browser test.
window.corridors = { map, state, layers };
start();
