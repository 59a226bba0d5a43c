// What the bench upstream answers every request with (kept apart so tests can read it without starting a server).

/** The acceptance workload's answer: a JSON document of about 1 KB (an agent record with a few runs). */
export function benchBody(): Buffer {
  const runs = Array.from({ length: 6 }, (_, i) => ({
    id: `run-${1000 + i}`,
    status: i % 3 === 0 ? 'failed' : 'succeeded',
    startedAt: `2026-01-0${i + 1}T10:00:00.000Z`,
    durationMs: 1200 + i * 37,
    tokens: { prompt: 812 + i, completion: 233 + i },
  }));
  const agent = {
    id: 'agent-42',
    name: 'Quarterly report summariser',
    owner: { id: 'user-7', team: 'finance-automation' },
    model: 'rf-large-2026-01',
    tags: ['finance', 'reports', 'scheduled'],
    runs,
  };
  return Buffer.from(`${JSON.stringify(agent)}\n`);
}
