// Runs an async job now, or once more after the run in progress: a burst of triggers (watch
// events, timers) never piles up runs and never misses the last change.
export class CoalescedRun {
  private running: Promise<void> | null = null;
  private again = false;

  constructor(private readonly job: () => Promise<void>) {}

  schedule(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.job().finally(() => {
      this.running = null;
      if (this.again) {
        this.again = false;
        this.schedule();
      }
    });
  }

  /** Resolves when the run in progress (if any) ends. */
  async settled(): Promise<void> {
    await this.running;
  }
}
