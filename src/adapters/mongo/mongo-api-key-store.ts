/** API keys in MongoDB: one small collection, shared by every instance. */
import { MongoClient, MongoServerError } from 'mongodb';
import type { ApiKeyRecord, ApiKeyStore, ApiScope } from '../../ports/api-key-store.ts';
import { unavailable } from '../../errors.ts';

interface KeyDocument {
  _id: string;
  tenant: string;
  name: string | null;
  scopes: ApiScope[];
  createdAt: number;
  revokedAt: number | null;
  secretHash: string;
}

/** The one document of the token signing secret (only used when TOKEN_SIGNING_KEYS is unset). */
interface SigningSecretDocument {
  _id: 'default';
  secret: string;
}

const toRecord = ({ _id, ...rest }: KeyDocument): ApiKeyRecord => ({ id: _id, ...rest });

/** The same fail-fast timeouts as the event store: a request should not wait 30 s for a dead server. */
const CLIENT_TIMEOUTS = { serverSelectionTimeoutMS: 3_000, connectTimeoutMS: 3_000 } as const;

export async function createMongoApiKeyStore(options: { url: string; database?: string }): Promise<ApiKeyStore> {
  const client = new MongoClient(options.url, CLIENT_TIMEOUTS);
  const guarded = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (error) {
      if (error instanceof MongoServerError && error.code === 11000) throw error;
      throw unavailable(`the MongoDB API key store could not ${what}`, error);
    }
  };
  await guarded('connect', () => client.connect());
  const keys = client.db(options.database).collection<KeyDocument>('api_keys');
  const signingSecrets = client.db(options.database).collection<SigningSecretDocument>('token_signing_secrets');
  await guarded('create its index', () => keys.createIndex({ tenant: 1, createdAt: 1 }, { name: 'api_keys_by_tenant' }));

  return {
    create(record) {
      const { id, ...rest } = record;
      return guarded('create a key', async () => void (await keys.insertOne({ _id: id, ...rest })));
    },
    findById(id) {
      return guarded('read a key', async () => {
        const doc = await keys.findOne({ _id: { $eq: id } });
        return doc ? toRecord(doc) : null;
      });
    },
    list(tenant) {
      return guarded('list keys', async () =>
        (
          await keys
            .find(tenant === null ? {} : { tenant: { $eq: tenant } })
            .sort({ createdAt: 1, _id: 1 })
            .toArray()
        ).map(toRecord),
      );
    },
    revoke(id, at) {
      return guarded('revoke a key', async () => {
        // Only the first revocation sets the time, so retries and races report the same moment.
        await keys.updateOne({ _id: { $eq: id }, revokedAt: null }, { $set: { revokedAt: at } });
        const doc = await keys.findOne({ _id: { $eq: id } });
        return doc ? toRecord(doc) : null;
      });
    },
    count() {
      return guarded('count keys', () => keys.countDocuments({}));
    },
    signingSecret(candidate) {
      return guarded('read the token signing secret', async () => {
        try {
          // $setOnInsert: the first instance's candidate stays; every later call reads it back.
          await signingSecrets.updateOne({ _id: 'default' }, { $setOnInsert: { secret: candidate } }, { upsert: true });
        } catch (error) {
          // Two upserts at once: one inserts, the other may fail on the duplicate _id. Either way it is stored.
          if (!(error instanceof MongoServerError && error.code === 11000)) throw error;
        }
        const stored = await signingSecrets.findOne({ _id: 'default' });
        return stored!.secret;
      });
    },
    checkHealth() {
      return guarded('be reached', async () => void (await client.db(options.database).command({ ping: 1 })));
    },
    async close() {
      await client.close();
    },
  };
}
