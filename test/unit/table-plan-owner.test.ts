// The compiled route table has one owner: it compiles a routing object once, on first use after a swap, and tells
// the pools and the shadow sender only when the table itself changed (a routing rebuilt around the same table, as
// a rollout step does, keeps the pools).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../../src/adapters/logger.ts';
import type { RouteTable } from '../../src/config/types.ts';
import type { Decision } from '../../src/core/types.ts';
import { type EdgeRouting, TablePlanOwner } from '../../src/http/table-plan.ts';
import { makeTable } from '../support/edge.ts';

function routing(table: RouteTable): EdgeRouting {
  return { table, decide: () => ({}) as Decision };
}

test('one compile per routing object, listeners told only of new tables', () => {
  const first = makeTable({ upstreams: { monolith: 'http://127.0.0.1:1' }, legacy: 'monolith' });
  const second = makeTable({
    upstreams: { monolith: 'http://127.0.0.1:1', agents: 'http://127.0.0.1:2/base' },
    legacy: 'monolith',
  });
  let current = routing(first);
  const seen: RouteTable[] = [];
  const owner = new TablePlanOwner(() => current, createLogger('silent'), [{ useTable: (t) => seen.push(t) }]);

  const plan = owner.current();
  assert.equal(owner.current(), plan, 'the same routing gives the same compiled plan');
  assert.deepEqual(seen, [first]);

  current = routing(first);
  const rebuilt = owner.current();
  assert.notEqual(rebuilt, plan, 'a new routing object is compiled again');
  assert.equal(rebuilt.routing, current);
  assert.deepEqual(seen, [first], 'same table: pools and shadows untouched');

  current = routing(second);
  const next = owner.current();
  assert.deepEqual(seen, [first, second]);
  assert.deepEqual([...next.upstreams.keys()], ['monolith', 'agents']);
  assert.equal(next.upstreams.get('agents')?.config.basePath, '/base');
});
