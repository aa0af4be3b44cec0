/**
 * A map keyed by (app, device) as two levels: app → device → value. Lookups
 * use the device string itself as the key, so nothing is concatenated and a
 * device id's hash is computed once per string, not once per lookup — these
 * maps hold one entry per online device (1.6M in the simulator) and are read
 * several times per push.
 */
export class AppDeviceMap<V> {
  private readonly apps = new Map<string, Map<string, V>>();
  private size_ = 0;
  /** The last app looked up and its devices: nearly every lookup is for the same app as the one before. */
  private lastApp: string | undefined;
  private lastDevices: Map<string, V> | undefined;

  get size(): number {
    return this.size_;
  }

  private devicesOf(app: string): Map<string, V> | undefined {
    if (app === this.lastApp) return this.lastDevices;
    const devices = this.apps.get(app);
    // An app without devices is not cached: its map may be created by the next `set`.
    if (devices) {
      this.lastApp = app;
      this.lastDevices = devices;
    }
    return devices;
  }

  get(app: string, device: string): V | undefined {
    return this.devicesOf(app)?.get(device);
  }

  set(app: string, device: string, value: V): void {
    let devices = this.devicesOf(app);
    if (!devices) this.apps.set(app, (devices = new Map()));
    const before = devices.size;
    devices.set(device, value);
    this.size_ += devices.size - before;
  }

  delete(app: string, device: string): boolean {
    const devices = this.devicesOf(app);
    if (!devices?.delete(device)) return false;
    this.size_--;
    if (devices.size === 0) {
      this.apps.delete(app);
      if (this.lastDevices === devices) {
        this.lastApp = undefined;
        this.lastDevices = undefined;
      }
    }
    return true;
  }

  /** The devices of `app` that have an entry, in the order their entries were first set. */
  devicesOfApp(app: string): string[] {
    const devices = this.devicesOf(app);
    return devices ? [...devices.keys()] : [];
  }

  *values(): Generator<V> {
    for (const devices of this.apps.values()) yield* devices.values();
  }
}
