// bench/engine.sh part (b): drain the jobs already queued in graphile_worker by a no-op task,
// and print "jobs seconds jobs_per_s" (timed from the first job's start to the moment the
// jobs table is empty, so batched completions are counted when they are committed).
//   node gw_bench.js MODE SOCKET_DIR PORT DB N     MODE: shipped | batched | migrate (install its schema)
// Run from the directory where graphile-worker was installed (engine.sh copies it there).
"use strict";
const { run } = require("graphile-worker");
const { Pool } = require("pg");

const [mode, host, port, database, nArg] = process.argv.slice(2);
const N = parseInt(nArg, 10);

// as shipped: the library's defaults (concurrentJobs 1, pool of 10, no local queue, no batching);
// batched: the configuration of graphile-worker's own performance page (concurrentJobs 24,
// maxPoolSize 25, localQueue.size 500, completeJobBatchDelay 0, failJobBatchDelay 0).
const worker =
	mode === "batched"
		? { concurrentJobs: 24, maxPoolSize: 25, localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 }
		: {};
const poolSize = worker.maxPoolSize || 10;

async function main() {
	if (mode === "migrate") {
		const pool = new Pool({ host, port: +port, database, user: "postgres", max: 2 });
		await require("graphile-worker").runMigrations({ pgPool: pool });
		await pool.end();
		return;
	}
	const pgPool = new Pool({ host, port: +port, database, user: "postgres", max: poolSize });
	const probe = new Pool({ host, port: +port, database, user: "postgres", max: 1 });
	pgPool.on("error", (e) => console.error("pool:", e.message));
	pgPool.on("connect", (c) => c.on("error", (e) => console.error("client:", e.message)));
	let done = 0, t0 = 0n, resolveAll;
	const allRan = new Promise((r) => (resolveAll = r));
	const runner = await run({
		pgPool,
		preset: { worker: { ...worker, pollInterval: 2000 } },
		noHandleSignals: true,
		logger: new (require("graphile-worker").Logger)(() => () => {}),
		taskList: {
			noop: async () => {
				if (t0 === 0n) t0 = process.hrtime.bigint();
				if (++done === N) resolveAll();
			},
		},
	});
	await allRan;
	// every task ran; wait until their completions are committed (the table is empty)
	for (;;) {
		const r = await probe.query("SELECT count(*)::int AS n FROM graphile_worker._private_jobs");
		if (r.rows[0].n === 0) break;
		await new Promise((r) => setTimeout(r, 1));
	}
	const secs = Number(process.hrtime.bigint() - t0) / 1e9;
	await runner.stop();
	await probe.end();
	await pgPool.end();
	console.log(`${N} ${secs.toFixed(3)} ${Math.round(N / secs)}`);
}
main().catch((e) => {
	console.error(e);
	process.exit(1);
});
