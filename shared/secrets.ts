// Credentials from Supabase Vault, read through the database by the service role and cached briefly.
import type { Sql } from "./db/client.ts";

/** Reads secrets by Vault id or name. */
export interface SecretStore {
  /**
   * The decrypted secret with this Vault id; throws when there is none. `version` (e.g. when the row
   * pointing at it last changed) keys the cache: a secret rotated in place is read again at once.
   */
  byId(id: string, version?: string): Promise<string>;
  /** The decrypted secret with this Vault name; throws when there is none. */
  byName(name: string): Promise<string>;
}

/** Thrown when a secret a caller needs is not in Vault. */
export class MissingSecretError extends Error {
  constructor(what: string) {
    super(`Vault has no secret ${what}`);
    this.name = "MissingSecretError";
  }
}

/**
 * A Vault-backed store with a short cache, so a burst of runs does not decrypt the same secret once
 * per run, while a rotated secret is picked up within `ttlMs`.
 */
export function vaultSecrets(sql: Sql, ttlMs = 60_000, now: () => number = Date.now): SecretStore {
  const cache = new Map<string, { value: Promise<string>; expires: number }>();
  const cached = (key: string, load: () => Promise<string>): Promise<string> => {
    const hit = cache.get(key);
    if (hit && hit.expires > now()) return hit.value;
    const value = load();
    cache.set(key, { value, expires: now() + ttlMs });
    value.catch(() => cache.delete(key));
    return value;
  };
  return {
    byId: (id, version) =>
      cached(`id:${id}:${version ?? ""}`, async () => {
        const rows = await sql<{ s: string }[]>`
          select decrypted_secret as s from vault.decrypted_secrets where id = ${id}::uuid`;
        if (rows.length === 0 || rows[0].s === null) throw new MissingSecretError(`with id ${id}`);
        return rows[0].s;
      }),
    byName: (name) =>
      cached(`name:${name}`, async () => {
        const rows = await sql<{ s: string }[]>`
          select decrypted_secret as s from vault.decrypted_secrets where name = ${name}`;
        if (rows.length === 0 || rows[0].s === null) throw new MissingSecretError(`named "${name}"`);
        return rows[0].s;
      }),
  };
}
