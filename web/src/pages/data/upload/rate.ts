// Speed and time left of a transfer, from the bytes done over the last few seconds (a sliding
// window, so a stall shows at once and an early burst does not promise too much).

export class RateMeter {
  private readonly windowMs: number;
  private samples: { t: number; bytes: number }[] = [];

  constructor(windowMs = 5000) {
    this.windowMs = windowMs;
  }

  // `bytes`: the total done so far, at time `t` (ms).
  add(t: number, bytes: number): void {
    this.samples.push({ t, bytes });
    // Keep one sample older than the window, as the window's start.
    while (this.samples.length > 2 && this.samples[1].t <= t - this.windowMs) this.samples.shift();
  }

  // Bytes per second, or 0 before there are two samples.
  speed(): number {
    if (this.samples.length < 2) return 0;
    const a = this.samples[0];
    const b = this.samples[this.samples.length - 1];
    const dt = b.t - a.t;
    return dt > 0 ? ((b.bytes - a.bytes) * 1000) / dt : 0;
  }

  // Seconds until `total`, or null while the speed is unknown.
  eta(total: number): number | null {
    const s = this.speed();
    if (s <= 0 || !this.samples.length) return null;
    return Math.max(0, (total - this.samples[this.samples.length - 1].bytes) / s);
  }
}
