/** Where the machine's CPU went during an arm: how busy the cores were, and how much of it was one process. */
import { readFileSync } from 'node:fs';
import { cpuSecondsOf } from './server.ts';

export interface CpuSnapshot {
  at: number;
  /** Busy and total jiffies of all cores, from /proc/stat. */
  busy: number;
  total: number;
  /** CPU seconds of the process watched. */
  process: number;
}

export function cpuSnapshot(pid: number): CpuSnapshot {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: idle and iowait are not busy.
  const total = fields.slice(0, 8).reduce((sum, value) => sum + value, 0);
  return { at: performance.now(), busy: total - fields[3]! - fields[4]!, total, process: cpuSecondsOf(pid) };
}

/** Cores busy on the whole machine, and cores used by the watched process, between two snapshots. */
export function coresUsed(start: CpuSnapshot, end: CpuSnapshot, cores: number): { machine: number; process: number } {
  const seconds = (end.at - start.at) / 1000;
  return { machine: ((end.busy - start.busy) / (end.total - start.total)) * cores, process: (end.process - start.process) / seconds };
}
