/// The console page, its style and its script, shipped inside the binary: nothing is fetched from
/// anywhere but this listener. The script writes message content only with `textContent`, never
/// as markup, and the Content-Security-Policy runs no script but this one.
enum ConsolePage {
    /// The start of every console page up to its body: a same-origin referrer policy (no-referrer
    /// would make Chrome send `Origin: null` on the page's own POSTs) and the shared style.
    static func head(title: String) -> String {
        #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="referrer" content="same-origin">
        <title>\#(title)</title>
        <link rel="stylesheet" href="/console/app.css">
        </head>

        """#
    }

    static let html =
        head(title: "Dead letters · workmode-gateway") + #"""
            <body>
            <header>
              <h1>Dead letters <small id="queue"></small></h1>
              <form method="post" action="/console/logout"><button type="submit" id="logout">Log out</button></form>
            </header>
            <main>
              <section id="counts" aria-labelledby="counts-title">
                <h2 id="counts-title">By class and reason <small id="total"></small></h2>
                <div id="bars"></div>
                <p class="hint" id="refreshed"></p>
              </section>
              <form id="filters" aria-label="filters">
                <label>Class <select id="f-class" name="class">
                  <option value="">any</option><option>invalid</option><option>rejected</option><option>exhausted</option><option>expired</option><option>poison</option>
                </select></label>
                <label>Tenant <input id="f-tenant" name="tenant" autocomplete="off"></label>
                <label>Since <input id="f-since" name="since" placeholder="1h or 2026-11-30T10:00:00Z" autocomplete="off"></label>
                <label>Text <input id="f-q" name="q" type="search" autocomplete="off"></label>
                <button type="submit" id="apply">Filter</button>
                <button type="button" id="clear">Clear</button>
              </form>
              <p class="problem" id="problem" role="alert" hidden></p>
              <section id="actions">
                <span id="selection">0 selected</span>
                <button type="button" id="replay" disabled>Replay…</button>
                <button type="button" id="purge" class="danger" disabled>Purge…</button>
              </section>
              <section id="confirm" hidden>
                <p id="confirm-text"></p>
                <ul id="confirm-list"></ul>
                <button type="button" id="confirm-yes"></button>
                <button type="button" id="confirm-no">Cancel</button>
              </section>
              <section id="outcome" role="status" hidden></section>
              <div class="table">
              <table id="letters">
                <thead><tr>
                  <th><input type="checkbox" id="select-all" aria-label="select all shown"></th>
                  <th>Dead-lettered</th><th>Class</th><th>Reason</th><th>Tenant</th><th>Call</th><th>Message ID</th><th>Redrives</th>
                </tr></thead>
                <tbody></tbody>
              </table>
              </div>
              <p class="hint" id="shown"></p>
              <section id="detail" hidden>
                <h2>Message <span id="detail-id"></span> <button type="button" id="detail-close">Close</button></h2>
                <p id="detail-reason"></p>
                <h3>Body</h3><pre id="detail-body"></pre>
                <h3>Properties</h3><table id="detail-properties"><tbody></tbody></table>
                <h3>Headers</h3><pre id="detail-headers"></pre>
              </section>
            </main>
            <script src="/console/app.js"></script>
            </body>
            </html>
            """#

    static let style = #"""
        :root { --fg: #1d2330; --muted: #5b6475; --line: #d9dde5; --accent: #1f5fbf; --bad: #b3261e; --bg: #f6f7f9; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
        header { display: flex; align-items: center; justify-content: space-between; padding: 10px 16px; background: #fff; border-bottom: 1px solid var(--line); }
        h1 { font-size: 18px; margin: 0; } h1 small, h2 small { color: var(--muted); font-weight: normal; font-size: 13px; }
        h2 { font-size: 15px; margin: 0 0 8px; } h3 { font-size: 13px; margin: 14px 0 4px; color: var(--muted); }
        main { padding: 12px 16px; max-width: 1200px; margin: 0 auto; }
        section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; margin-bottom: 12px; }
        .bar { display: grid; grid-template-columns: minmax(120px, 34%) 1fr 56px; gap: 8px; align-items: center; margin: 3px 0; }
        .bar .label { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
        .bar .track { background: #eef1f6; border-radius: 3px; height: 14px; }
        .bar .fill { background: var(--accent); height: 14px; border-radius: 3px; min-width: 2px; }
        .bar .count { text-align: right; font-variant-numeric: tabular-nums; }
        form#filters { display: flex; flex-wrap: wrap; gap: 8px; align-items: end; margin-bottom: 12px; }
        label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); gap: 2px; }
        input, select, button { font: inherit; padding: 5px 8px; border: 1px solid var(--line); border-radius: 4px; background: #fff; color: var(--fg); }
        button { cursor: pointer; } button:disabled { opacity: .5; cursor: default; }
        button.danger, #confirm-yes.danger { color: #fff; background: var(--bad); border-color: var(--bad); }
        #confirm-yes { color: #fff; background: var(--accent); border-color: var(--accent); }
        #actions { display: flex; gap: 10px; align-items: center; }
        .table { overflow-x: auto; background: #fff; border: 1px solid var(--line); border-radius: 6px; margin-bottom: 8px; }
        table { border-collapse: collapse; width: 100%; }
        th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
        th { font-size: 12px; color: var(--muted); font-weight: 600; background: #fafbfc; }
        td.reason { max-width: 360px; overflow-wrap: anywhere; }
        button.link { border: 0; background: none; color: var(--accent); padding: 0; text-decoration: underline; font-family: ui-monospace, monospace; }
        pre { background: #f3f5f8; padding: 8px; border-radius: 4px; overflow: auto; max-height: 360px; white-space: pre-wrap; overflow-wrap: anywhere; }
        .problem { color: var(--bad); } .hint { color: var(--muted); font-size: 12px; margin: 4px 0; }
        #outcome.ok { border-color: #2e7d32; } #outcome.warn { border-color: #e0a100; }
        body.login main { max-width: 360px; margin-top: 12vh; }
        body.login form { display: flex; flex-direction: column; gap: 8px; }
        @media (max-width: 640px) {
          th:nth-child(4), td:nth-child(4), th:nth-child(6), td:nth-child(6), th:nth-child(8), td:nth-child(8) { display: none; }
          .bar { grid-template-columns: 45% 1fr 44px; }
          main { padding: 8px; }
        }
        """#

    static let script = #"""
        "use strict";
        const $ = (id) => document.getElementById(id);
        const filterNames = ["class", "tenant", "since", "q"];
        const state = { letters: [], selected: new Set(), action: null, applied: "", loads: 0, loading: false, refreshing: false };

        function el(tag, text, className) {
          const node = document.createElement(tag);
          if (text !== undefined && text !== null) node.textContent = String(text);
          if (className) node.className = className;
          return node;
        }

        function filterQuery() {
          const query = new URLSearchParams();
          for (const name of filterNames) {
            const value = $("f-" + name).value.trim();
            if (value) query.set(name, value);
          }
          return query;
        }

        function fillFilters() {
          const query = new URLSearchParams(location.search);
          for (const name of filterNames) $("f-" + name).value = query.get(name) || "";
        }

        async function api(path, options) {
          const response = await fetch(path, Object.assign({ credentials: "same-origin", headers: { "Accept": "application/json" } }, options || {}));
          if (response.status === 401) { location.href = "/console/login"; throw new Error("log in first"); }
          const body = await response.json().catch(() => ({}));
          if (!response.ok) throw new Error(body.error || ("HTTP " + response.status));
          return body;
        }

        function showProblem(error) {
          $("problem").hidden = !error;
          $("problem").textContent = error ? String(error.message || error) : "";
        }

        function renderCounts(data) {
          $("queue").textContent = data.queue;
          $("total").textContent = data.matched + " of " + data.scanned + " match";
          const bars = $("bars");
          bars.replaceChildren();
          const most = Math.max(1, ...data.counts.map((group) => group.count));
          for (const group of data.counts) {
            const row = el("div", null, "bar");
            row.dataset.class = group.class;
            const label = el("span", group.class + ": " + group.reason, "label");
            label.title = group.class + ": " + group.reason;
            const track = el("span", null, "track");
            const fill = el("span", null, "fill");
            fill.style.display = "block";
            fill.style.width = (100 * group.count / most) + "%";
            track.append(fill);
            row.append(label, track, el("span", group.count, "count"));
            bars.append(row);
          }
          if (data.counts.length === 0) bars.append(el("p", "No dead letters match.", "hint"));
          $("refreshed").textContent = "Counts refreshed " + new Date().toLocaleTimeString() + "; every 10 s.";
        }

        function renderSelection() {
          const count = state.selected.size;
          $("selection").textContent = count + " selected";
          $("replay").disabled = count === 0;
          $("purge").disabled = count === 0;
          $("select-all").checked = state.letters.length > 0 && state.letters.every((letter) => state.selected.has(letter.id));
        }

        function renderTable(data) {
          const body = $("letters").tBodies[0];
          body.replaceChildren();
          for (const letter of data.letters) {
            const row = document.createElement("tr");
            row.dataset.id = letter.id;
            const pick = el("td");
            const box = document.createElement("input");
            box.type = "checkbox";
            box.className = "pick";
            box.setAttribute("aria-label", "select " + letter.id);
            box.checked = state.selected.has(letter.id);
            box.addEventListener("change", () => {
              if (box.checked) state.selected.add(letter.id); else state.selected.delete(letter.id);
              renderSelection();
            });
            pick.append(box);
            const open = el("button", letter.messageId || letter.id, "link");
            open.type = "button";
            open.addEventListener("click", () => showDetail(letter.id));
            const idCell = el("td");
            idCell.append(open);
            row.append(
              pick, el("td", letter.deadLetteredAt || "-"), el("td", letter.class), el("td", letter.reason, "reason"),
              el("td", letter.tenantId || "-"), el("td", letter.callId || "-"), idCell, el("td", letter.redriveCount)
            );
            body.append(row);
          }
          $("shown").textContent = data.letters.length < data.matched
            ? "Showing the first " + data.letters.length + " of " + data.matched + "; narrow the filters to see the rest."
            : data.matched + " shown.";
        }

        // The filters as applied by the last load: the counts refresh for those, not for what is
        // typed but not yet applied, and an older answer never overwrites a newer one.
        async function load() {
          const query = filterQuery();
          state.applied = query.toString();
          query.set("limit", "500");
          const load = ++state.loads;
          state.loading = true;
          try {
            const data = await api("/api/dead-letters?" + query);
            if (load !== state.loads) return;
            showProblem(null);
            state.letters = data.letters;
            const present = new Set(data.letters.map((letter) => letter.id));
            for (const id of [...state.selected]) if (!present.has(id)) state.selected.delete(id);
            renderCounts(data);
            renderTable(data);
            renderSelection();
          } catch (error) {
            if (load === state.loads) showProblem(error);
          } finally {
            if (load === state.loads) state.loading = false;
          }
        }

        // Requests take turns on the queue on the server, so a refresh never starts while this
        // page's last one is still waiting or reading: on a large queue they would pile up.
        async function refreshCounts() {
          if (document.hidden || state.action || state.loading || state.refreshing) return;
          const query = new URLSearchParams(state.applied);
          query.set("limit", "0");
          const load = state.loads;
          state.refreshing = true;
          try {
            const data = await api("/api/dead-letters?" + query);
            if (load === state.loads && !state.loading) renderCounts(data);
          } catch (error) { showProblem(error); } finally { state.refreshing = false; }
        }

        function pretty(text) {
          try { return JSON.stringify(JSON.parse(text), null, 2); } catch (error) { return text; }
        }

        async function showDetail(id) {
          try {
            const letter = await api("/api/dead-letters/" + encodeURIComponent(id));
            $("detail-id").textContent = letter.messageId || letter.id;
            $("detail-reason").textContent = letter.class + ": " + letter.reason + (letter.errorCode ? " (errorCode " + letter.errorCode + ")" : "");
            $("detail-body").textContent = pretty(letter.body);
            const rows = $("detail-properties").tBodies[0];
            rows.replaceChildren();
            for (const name of Object.keys(letter.properties).sort()) {
              const row = document.createElement("tr");
              row.append(el("th", name), el("td", letter.properties[name]));
              rows.append(row);
            }
            $("detail-headers").textContent = JSON.stringify(letter.headers, null, 2);
            $("detail").hidden = false;
            $("detail").scrollIntoView({ block: "nearest" });
          } catch (error) { showProblem(error); }
        }

        function ask(action) {
          const ids = [...state.selected];
          state.action = { action, ids };
          const verb = action === "replay" ? "Replay" : "Purge";
          $("confirm-text").textContent = action === "replay"
            ? verb + " " + ids.length + " dead letter" + (ids.length === 1 ? "" : "s") + " to where they came from? Each is acknowledged only after the broker confirms its republish; one already replayed 3 times is refused."
            : verb + " " + ids.length + " dead letter" + (ids.length === 1 ? "" : "s") + "? They are deleted for good.";
          const list = $("confirm-list");
          list.replaceChildren(...ids.slice(0, 20).map((id) => el("li", id)));
          if (ids.length > 20) list.append(el("li", "and " + (ids.length - 20) + " more"));
          $("confirm-yes").textContent = verb + " " + ids.length;
          $("confirm-yes").className = action === "purge" ? "danger" : "";
          $("confirm").hidden = false;
          $("outcome").hidden = true;
        }

        async function confirmed() {
          const pending = state.action;
          if (!pending) return;
          $("confirm-yes").disabled = true;
          try {
            const result = await api("/api/dead-letters/" + pending.action, {
              method: "POST",
              headers: { "Accept": "application/json", "Content-Type": "application/json" },
              body: JSON.stringify({ ids: pending.ids }),
            });
            const outcome = $("outcome");
            outcome.replaceChildren();
            if (pending.action === "replay") {
              outcome.append(el("p", "Replayed " + result.replayed + ", refused at the redrive cap " + result.refused + ", failed to publish " + result.failed + "."));
              if (result.refusedIds.length) outcome.append(el("p", "Refused: " + result.refusedIds.join(", ")));
              if (result.failedIds.length) outcome.append(el("p", "Failed (still dead-lettered): " + result.failedIds.join(", ")));
              outcome.className = result.refused + result.failed > 0 ? "warn" : "ok";
            } else {
              outcome.append(el("p", "Purged " + result.deleted + "."));
              outcome.className = "ok";
            }
            if (result.notFound && result.notFound.length) outcome.append(el("p", "No longer in the queue: " + result.notFound.join(", ")));
            outcome.hidden = false;
            state.selected.clear();
          } catch (error) { showProblem(error); }
          $("confirm-yes").disabled = false;
          $("confirm").hidden = true;
          state.action = null;
          await load();
        }

        $("filters").addEventListener("submit", (event) => {
          event.preventDefault();
          const query = filterQuery().toString();
          history.replaceState(null, "", query ? "?" + query : location.pathname);
          load();
        });
        $("clear").addEventListener("click", () => {
          for (const name of filterNames) $("f-" + name).value = "";
          history.replaceState(null, "", location.pathname);
          load();
        });
        $("select-all").addEventListener("change", (event) => {
          for (const letter of state.letters) { if (event.target.checked) state.selected.add(letter.id); else state.selected.delete(letter.id); }
          for (const box of document.querySelectorAll("input.pick")) box.checked = event.target.checked;
          renderSelection();
        });
        $("replay").addEventListener("click", () => ask("replay"));
        $("purge").addEventListener("click", () => ask("purge"));
        $("confirm-yes").addEventListener("click", confirmed);
        $("confirm-no").addEventListener("click", () => { state.action = null; $("confirm").hidden = true; });
        $("detail-close").addEventListener("click", () => { $("detail").hidden = true; });
        window.addEventListener("popstate", () => { fillFilters(); load(); });
        fillFilters();
        load();
        setInterval(refreshCounts, 10000);
        """#
}
