/** Apps from the command line or config file (`--app ID=SECRET`). */
import { TacoError } from '../../core/errors.js';
import type { AppDirectory, AppInfo } from '../../core/ports.js';

export class StaticAppDirectory implements AppDirectory {
  private readonly apps = new Map<string, AppInfo>();

  constructor(apps: AppInfo[]) {
    for (const a of apps) this.apps.set(a.id, a);
  }

  async lookup(appId: string, signal: AbortSignal): Promise<AppInfo | undefined> {
    if (signal.aborted)
      throw new TacoError('CANCELLED', `app lookup for ${appId} cancelled: the signal was already aborted`);
    return this.apps.get(appId);
  }

  /** Synchronous check for the business API's Basic auth. */
  verifySecret(appId: string, secret: string): boolean {
    const a = this.apps.get(appId);
    return a !== undefined && a.secret === secret;
  }

  list(): AppInfo[] {
    return [...this.apps.values()];
  }
}
