// Measuring helpers of the benchmark: percentiles, and CPU and memory of processes read from /proc.

/** The p-th percentile (0–100) of `values` by nearest rank; NaN when there are none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}

/** p50, p95 and p99 of `values`, rounded to 0.1 ms. */
export function latencySummary(values: readonly number[]): { p50: number; p95: number; p99: number } {
  const r = (x: number) => Math.round(x * 10) / 10;
  return { p50: r(percentile(values, 50)), p95: r(percentile(values, 95)), p99: r(percentile(values, 99)) };
}

// Linux reports CPU time in clock ticks of 1/100 s (USER_HZ) on every platform Deno runs on.
const TICKS_PER_S = 100;

/** The fields of /proc/<pid>/stat after the parenthesised command name (field 3 is index 0). */
async function statFields(pid: number): Promise<string[] | undefined> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`).catch(() => undefined);
  return stat?.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** CPU seconds used by `pid` itself; with `children`, plus its reaped children (cutime, cstime). */
export async function cpuSeconds(pid: number, children = false): Promise<number> {
  const f = await statFields(pid);
  if (!f) return 0;
  // utime, stime, cutime, cstime are fields 14–17, i.e. indexes 11–14 here.
  const ticks = Number(f[11]) + Number(f[12]) + (children ? Number(f[13]) + Number(f[14]) : 0);
  return ticks / TICKS_PER_S;
}

/**
 * CPU seconds used by a Postgres cluster so far: the postmaster, every live backend and worker, and the
 * backends that already exited (the postmaster reaps them, so their time is in its cutime/cstime).
 */
export async function clusterCpuSeconds(postmasterPid: number): Promise<number> {
  let total = await cpuSeconds(postmasterPid, true);
  for await (const entry of Deno.readDir("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    const f = await statFields(Number(entry.name));
    if (f && Number(f[1]) === postmasterPid) total += await cpuSeconds(Number(entry.name));
  }
  return total;
}

/** Resident memory of `pid` in MB: now (VmRSS) and the peak since it started (VmHWM). */
export async function memoryMb(pid: number): Promise<{ rss: number; hwm: number } | undefined> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`).catch(() => undefined);
  if (!status) return undefined;
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0);
  return { rss: kb("VmRSS") / 1024, hwm: kb("VmHWM") / 1024 };
}

/** Samples the resident memory of a process that may be restarted (its pid is looked up each time). */
export class MemorySampler {
  peakMb = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly pidOf: () => Promise<number | undefined>, private readonly everyMs = 250) {}

  start(): void {
    this.#timer = setInterval(() => void this.sample(), this.everyMs);
  }

  async sample(): Promise<void> {
    const pid = await this.pidOf().catch(() => undefined);
    const mem = pid ? await memoryMb(pid) : undefined;
    if (mem) this.peakMb = Math.max(this.peakMb, mem.rss, mem.hwm);
  }

  async stop(): Promise<number> {
    clearInterval(this.#timer);
    await this.sample();
    return Math.round(this.peakMb * 10) / 10;
  }
}
