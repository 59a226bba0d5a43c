// A stand-in for a bench run that is interrupted: it starts the bench upstream through the bench's own child
// process helpers, prints the upstream's pid, and waits to be signalled.
import { startUpstream } from '../../bench/targets/upstream.ts';

const upstream = await startUpstream();
process.stdout.write(`${upstream.pid}\n`);
setInterval(() => {}, 60_000);
