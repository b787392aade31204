/**
 * Where API keys live: with the raw events (MongoDB when MONGODB_URL is set, so every instance
 * shares them), or in DATA_DIR. Shared by the service and the key CLI.
 */
import type { Config } from '../config.ts';
import type { ApiKeyStore } from '../ports/api-key-store.ts';
import { createEmbeddedApiKeyStore } from './embedded/embedded-api-key-store.ts';
import { createMongoApiKeyStore } from './mongo/mongo-api-key-store.ts';

export async function openApiKeyStore(config: Pick<Config, 'mongodbUrl' | 'dataDir'>): Promise<ApiKeyStore> {
  return config.mongodbUrl ? createMongoApiKeyStore({ url: config.mongodbUrl }) : createEmbeddedApiKeyStore({ dataDir: config.dataDir });
}
