/** API keys: who may call, for which tenant, with which scopes. Secrets are stored only hashed. */

export const API_SCOPES = ['INGEST', 'READ', 'ADMIN'] as const;
export type ApiScope = (typeof API_SCOPES)[number];

export interface ApiKeyRecord {
  /** The public part of the key: safe to log and show. */
  id: string;
  tenant: string;
  name: string | null;
  scopes: ApiScope[];
  createdAt: number;
  revokedAt: number | null;
  /** SHA-256 of the secret part, hex. The secret itself is shown once, at creation. */
  secretHash: string;
}

export interface ApiKeyStore {
  /** Stores a new key; rejects if the id exists. */
  create(record: ApiKeyRecord): Promise<void>;
  findById(id: string): Promise<ApiKeyRecord | null>;
  /** Keys of one tenant, or of every tenant when `tenant` is null; oldest first. */
  list(tenant: string | null): Promise<ApiKeyRecord[]>;
  /** Marks the key revoked (the first revocation time stays); null when there is no such key. */
  revoke(id: string, at: number): Promise<ApiKeyRecord | null>;
  /** How many keys were ever created, revoked ones included. */
  count(): Promise<number>;
  /**
   * The secret that signs access tokens when TOKEN_SIGNING_KEYS is unset: stores `candidate` if
   * no secret is stored yet, and returns the stored one. Insert-if-absent, so instances starting
   * together all end up with the first one stored, and a restart keeps it.
   */
  signingSecret(candidate: string): Promise<string>;
  checkHealth(): Promise<void>;
  close(): Promise<void>;
}
