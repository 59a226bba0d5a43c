// The admin listener's `GET /` page: one self-contained HTML document (no build step, no external assets) that
// polls /api/routes (and each shadowed or canary route's /diff: how often the service answers the same) and offers
// the rollout commands. The admin token is typed by the person and kept in
// sessionStorage only.

export function renderDashboard({ title }: { title: string }): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
 body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1d2330;background:#f7f8fa}
 h1{font-size:1.3rem;margin:0 0 .5rem} .meta{color:#596173;margin-bottom:1rem}
 table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px #0001}
 th,td{padding:.45rem .6rem;border-bottom:1px solid #e4e7ec;text-align:left;vertical-align:top}
 th{background:#eef1f5;font-weight:600} .bar{background:#e4e7ec;border-radius:3px;height:8px;width:120px}
 .bar>div{background:#2f7de1;height:8px;border-radius:3px} .phase{font-weight:600}
 .rolled_back{color:#c62828} .promoted{color:#2e7d32} .paused{color:#b26a00} .canary,.holding{color:#2f7de1}
 button{margin:0 .15rem .15rem 0;font-size:12px} input{font-size:12px} #msg{margin:.5rem 0;color:#c62828}
 .small{color:#596173;font-size:12px}
</style></head>
<body>
<h1>${title}</h1>
<div class="meta" id="meta">loading…</div>
<div>Admin token: <input id="token" type="password" size="28" placeholder="needed for commands">
 Reason: <input id="reason" size="40" placeholder="why (goes to the audit trail)"></div>
<div id="msg"></div>
<table><thead><tr><th>route</th><th>path</th><th>mode</th><th>phase</th><th>weight</th><th>answers</th><th>why</th><th>commands</th></tr></thead>
<tbody id="rows"></tbody></table>
<script>
const tokenInput = document.getElementById('token');
tokenInput.value = sessionStorage.getItem('rfToken') || '';
tokenInput.addEventListener('change', () => sessionStorage.setItem('rfToken', tokenInput.value));
function esc(s){return String(s ?? '').replace(/[&<>"']/g,c=>({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c]))}
async function command(id, cmd, weight){
  const reason = document.getElementById('reason').value || undefined;
  const isWeight = cmd === 'weight';
  const res = await fetch('/api/routes/' + encodeURIComponent(id) + '/' + cmd, {
    method: isWeight ? 'PUT' : 'POST',
    headers: {'content-type':'application/json', authorization: 'Bearer ' + tokenInput.value},
    body: JSON.stringify(isWeight ? {weight: Number(weight), reason} : {reason})});
  const body = await res.json();
  document.getElementById('msg').textContent = res.ok ? '' : (body.error ? body.error.code + ': ' + body.error.message : res.status);
  refresh();
}
function pct(x){return x === null || x === undefined ? '-' : (x * 100).toFixed(2) + '%'}
function answers(d){
  if (!d) return '<span class="small">not compared</span>';
  const top = (d.mismatchFields || []).slice(0, 3).map(f => esc(f.field)).join(', ');
  return d.compared + ' compared · ' + d.noise + ' noise · <b>' + pct(d.mismatchRate) + '</b> mismatch' +
    '<div class="small">' + esc(d.verdict.kind === 'gate' ? 'gate' : 'diff rule') + ': ' + esc(d.verdict.outcome) +
    (top ? ' · ' + top : '') + '</div>';
}
async function diffOf(r){
  if (r.mode !== 'shadow' && r.mode !== 'canary') return null;
  try { const res = await fetch('/api/routes/' + encodeURIComponent(r.id) + '/diff'); return res.ok ? await res.json() : null; }
  catch { return null; }
}
async function refresh(){
  const res = await fetch('/api/routes'); const data = await res.json();
  const diffs = await Promise.all(data.routes.map(diffOf));
  document.getElementById('meta').textContent = 'config ' + data.configHash + ' · legacy → ' + data.legacy +
    (data.flags ? ' · flags: ' + data.flags.state : '') + (data.leader !== undefined ? ' · controller leader: ' + data.leader : '');
  document.getElementById('rows').innerHTML = data.routes.map((r, i) => '<tr>' +
    '<td><b>' + esc(r.id) + '</b><div class="small">' + esc(r.service) + (r.flag ? ' · ' + esc(r.flag) : '') + '</div></td>' +
    '<td>' + esc((r.methods || ['*']).join(',')) + ' ' + esc(r.path) + '</td><td>' + esc(r.mode) + '</td>' +
    '<td class="phase ' + esc(r.phase) + '">' + esc(r.phase) + (r.manualWeight ? ' (weight set by hand)' : r.stepIndex >= 0 ? ' (step ' + (r.stepIndex + 1) + '/' + r.steps.length + ')' : '') + '</td>' +
    '<td><div class="bar"><div style="width:' + Number(r.weight) + '%"></div></div>' + Number(r.weight) + '%</td>' +
    '<td>' + answers(diffs[i]) + '</td>' +
    '<td class="small">' + esc(r.reason) + '<br>' + esc(r.updatedBy) + ' · ' + esc(r.since) + '</td>' +
    '<td>' + ['pause','resume','promote','rollback'].map(c => '<button data-id="' + esc(r.id) + '" data-cmd="' + c + '">' + c + '</button>').join('') +
    '<br><input size="3" id="w-' + esc(r.id) + '" placeholder="%"><button data-id="' + esc(r.id) + '" data-cmd="weight">set weight</button>' +
    ' <a href="/api/routes/' + encodeURIComponent(r.id) + '/history">history</a>' +
    (diffs[i] ? ' <a href="/api/routes/' + encodeURIComponent(r.id) + '/diff">diff</a> <a href="/api/routes/' +
      encodeURIComponent(r.id) + '/diff/samples">samples</a>' : '') + '</td></tr>').join('');
}
document.getElementById('rows').addEventListener('click', (e) => {
  const b = e.target.closest('button'); if (!b) return;
  const id = b.dataset.id, cmd = b.dataset.cmd;
  command(id, cmd, cmd === 'weight' ? document.getElementById('w-' + id).value : undefined);
});
refresh(); setInterval(refresh, 2000);
</script></body></html>`;
}
