// The ticket page: the live panel and the chart's zoom. A file, not inline, so the Content-Security-Policy
// allows no inline script; the page hands over its ticket id and CSRF token as data attributes.
const page = document.getElementById("ticket-page");
const CSRF = page.dataset.csrf, TICKET = page.dataset.ticket;
async function live(method, body) {
  const answer = await fetch(`/ui/tickets/${TICKET}/live/${method}`, {method: "POST", headers: {"X-CSRF-Token": CSRF,
    "Content-Type": "application/json"}, body: JSON.stringify(body || {})});
  const data = await answer.json().catch(() => ({}));
  if (!answer.ok) throw new Error((data.error && data.error.message) || answer.statusText);
  return data.result;
}
// The page's words for the panel's messages (in the reader's language), "{n}" filled in here.
const say = (key, values) => Object.entries(values || {}).reduce(
  (text, [name, value]) => text.replace(`{${name}}`, value), document.getElementById("live-status").dataset[key]);
function cell(text) { const td = document.createElement("td"); td.textContent = text ?? ""; return td; }
const refresh = document.getElementById("live-refresh");
if (refresh) {
  refresh.onclick = async () => {
    const status = document.getElementById("live-status"), table = document.getElementById("live-devices");
    status.textContent = say("asking");
    try {
      const inventory = await live("inventory");
      table.replaceChildren();
      for (const d of inventory.devices) {
        const row = document.createElement("tr");
        row.className = "live-device";
        for (const value of [d.name || d.id, d.family, d.model, d.firmware, d.available === false ? "OFFLINE" : (d.available ? "online" : "?"),
                             d.rssi_dbm != null ? `${d.rssi_dbm} dBm` : (d.link_quality != null ? `LQI ${d.link_quality}` : ""), d.last_seen]) row.append(cell(value));
        table.append(row);
      }
      status.textContent = say("devices", {n: inventory.devices.length});
    } catch (error) { status.textContent = say("refused", {reason: error.message}); }
  };
  document.getElementById("live-capture").onclick = async () => {
    const status = document.getElementById("live-status");
    status.textContent = say("capturing");
    try { const result = await live("bundle.capture"); status.textContent = say("captured", {bundle: result.bundle_id}); }
    catch (error) { status.textContent = say("refused", {reason: error.message}); }
  };
}
for (const card of document.querySelectorAll(".bundle")) {
  const svg = card.querySelector("svg.timeline");
  if (!svg) continue;
  const full = svg.viewBox.baseVal.width, label = 170;
  let [x, w] = [0, full];
  const apply = () => svg.setAttribute("viewBox", `${x} 0 ${w} ${svg.viewBox.baseVal.height}`);
  card.querySelector(".zoom-in").onclick = () => { const c = x + w / 2; w = Math.max(full / 16, w / 2); x = Math.max(0, c - w / 2); apply(); };
  card.querySelector(".zoom-out").onclick = () => { w = Math.min(full, w * 2); x = Math.min(Math.max(0, x - w / 4), full - w); apply(); };
  card.querySelector(".pan-left").onclick = () => { x = Math.max(0, x - w / 4); apply(); };
  card.querySelector(".pan-right").onclick = () => { x = Math.min(full - w, x + w / 4); apply(); };
}
