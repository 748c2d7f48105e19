/**
 * Which MongoDB database the store uses. Pure, unit-tested in `test/mongo-unit.test.ts`.
 *
 * The driver answers `client.options.dbName === 'test'` when the connection string names no
 * database (lib/connection_string.js: `dbName: decodeURIComponent(url.pathname.slice(1)) ||
 * 'test'`), so "no database in the URI" cannot be told from the options: the URI is parsed
 * here with the same parser the driver uses, `mongodb-connection-string-url`.
 */
import ConnectionString from 'mongodb-connection-string-url';

/** The database when neither the URI nor MONGODB_DB names one. */
export const DEFAULT_MONGODB_DB = 'chat';

/**
 * "Naming Restrictions" (MongoDB manual, Database Names on Unix and Linux Systems): not empty,
 * fewer than 64 bytes, none of `/\. "$` and no null character.
 */
export function checkMongoDbName(name: string, source: string): string {
  if (name === '' || Buffer.byteLength(name, 'utf8') >= 64 || /[/\\. "$\0]/.test(name)) {
    throw new RangeError(`${source} names ${JSON.stringify(name)}, which is not a valid MongoDB database name`);
  }
  return name;
}

/**
 * The database named in the URI's path when there is one, else `configured` (MONGODB_DB), else
 * `chat`. Both named and different is a mistake the operator must resolve: RangeError.
 */
export function chooseMongoDbName(uri: string | null, configured: string | null): string {
  const fromEnv = configured === null ? null : checkMongoDbName(configured, 'MONGODB_DB');
  if (uri === null) return fromEnv ?? DEFAULT_MONGODB_DB;
  let path: string;
  try {
    path = new ConnectionString(uri).pathname;
  } catch (error) {
    throw new RangeError(`MONGODB_URI is not a MongoDB connection string: ${error instanceof Error ? error.message : String(error)}`);
  }
  const fromUri = path === '' || path === '/' ? null : checkMongoDbName(decodeURIComponent(path.slice(1)), 'MONGODB_URI');
  if (fromUri !== null && fromEnv !== null && fromUri !== fromEnv) {
    throw new RangeError(`MONGODB_URI names the database ${JSON.stringify(fromUri)} but MONGODB_DB names ${JSON.stringify(fromEnv)}: set only one`);
  }
  return fromUri ?? fromEnv ?? DEFAULT_MONGODB_DB;
}
