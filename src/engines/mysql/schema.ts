/**
 * The MySQL schema as numbered migrations. Append only: a released migration
 * is never edited; a change is a new version. Every statement is idempotent
 * (IF NOT EXISTS), so a migration interrupted half-way simply runs again.
 * `t(name)` adds the table prefix. Editing how the DDL is written (not what it
 * creates) is fine: test/engines/mysql.test.ts pins the statements' text.
 * Ids are case-sensitive (utf8mb4_bin);
 * ezones compare byte-wise (VARBINARY), like the Redis script and the JS twin.
 */
export interface Migration {
  version: number;
  name: string;
  statements: (t: (name: string) => string) => string[];
}

const TABLE_OPTIONS = 'ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin';

/** The column types every table shares, so an id is the same width wherever it appears. */
const COL = {
  app: 'app VARCHAR(128) NOT NULL',
  device: 'device VARCHAR(255) NOT NULL',
  user: 'user VARCHAR(255) NOT NULL',
  platform: 'platform VARCHAR(16) NOT NULL',
  version: 'version INT UNSIGNED NOT NULL',
  json: 'data MEDIUMTEXT NOT NULL',
} as const;

/** `CREATE TABLE IF NOT EXISTS` with the shared table options; `lines` are columns and keys. */
function createTable(name: string, lines: string[]): string {
  return `CREATE TABLE IF NOT EXISTS ${name} (\n  ${lines.join(',\n  ')}\n) ${TABLE_OPTIONS}`;
}

/** A config per (app, platform): the current one and every version share their columns. */
const configColumns = (at: string) => [COL.app, COL.platform, COL.version, COL.json, `${at} BIGINT NOT NULL`];

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'messages, history, idempotency, channels, configs',
    statements: (t) => [
      createTable(t('messages'), [
        'id BIGINT UNSIGNED NOT NULL PRIMARY KEY',
        COL.app,
        COL.device,
        'kind VARCHAR(16) NOT NULL',
        'title TEXT NULL',
        'body TEXT NULL',
        'data MEDIUMTEXT NULL',
        'priority VARCHAR(8) NOT NULL',
        'created_at BIGINT NOT NULL',
        'expires_at BIGINT NOT NULL',
        'status VARCHAR(16) NOT NULL',
        'status_rank TINYINT UNSIGNED NOT NULL',
        'channel VARCHAR(16) NULL',
        'pending TINYINT(1) NOT NULL',
        'done_at BIGINT NULL',
        'KEY pending_by_device (app, device, pending, created_at)',
        'KEY pending_by_expiry (pending, expires_at)',
        'KEY done (done_at)',
      ]),
      createTable(t('message_history'), [
        'seq BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY',
        'message_id BIGINT UNSIGNED NOT NULL',
        'status VARCHAR(16) NOT NULL',
        'at BIGINT NOT NULL',
        'KEY by_message (message_id, seq)',
      ]),
      createTable(t('idempotency_keys'), [
        COL.app,
        'ikey VARCHAR(255) NOT NULL',
        'ids MEDIUMTEXT NOT NULL',
        'created_at BIGINT NOT NULL',
        'PRIMARY KEY (app, ikey)',
        'KEY by_time (created_at)',
      ]),
      createTable(t('device_channels'), [
        COL.app,
        COL.device,
        'channel VARCHAR(16) NOT NULL',
        'token TEXT NOT NULL',
        'registered_at BIGINT NOT NULL',
        'updated_at BIGINT NOT NULL',
        'PRIMARY KEY (app, device, channel)',
      ]),
      createTable(t('app_configs'), [...configColumns('updated_at'), 'PRIMARY KEY (app, platform)']),
      createTable(t('app_config_versions'), [
        ...configColumns('created_at'),
        'PRIMARY KEY (app, platform, version)',
      ]),
    ],
  },
  {
    version: 2,
    name: 'routes (source of truth behind Redis)',
    statements: (t) => [
      createTable(t('routes'), [
        COL.app,
        COL.device,
        'user VARCHAR(255) NULL',
        'loc VARCHAR(255) NULL',
        'node INT UNSIGNED NOT NULL',
        'ezone VARBINARY(64) NOT NULL',
        'session VARCHAR(255) NOT NULL',
        'updated_at BIGINT NOT NULL',
        'PRIMARY KEY (app, device)',
      ]),
      createTable(t('user_devices'), [COL.app, COL.user, COL.device, 'PRIMARY KEY (app, user, device)']),
      createTable(t('app_devices'), [
        COL.app,
        COL.device,
        'first_seen BIGINT NOT NULL',
        'PRIMARY KEY (app, device)',
      ]),
    ],
  },
  {
    version: 3,
    name: 'shard map versions (GZS; global, shared by every ezone)',
    // The same table MysqlShardMapStore.ensureTable() creates, so either may come first.
    statements: (t) => [
      createTable(t('shard_map_versions'), [
        'version INT UNSIGNED NOT NULL PRIMARY KEY',
        'kind VARCHAR(16) NOT NULL',
        'changed_by VARCHAR(255) NOT NULL',
        'changed_at BIGINT NOT NULL',
        'state MEDIUMTEXT NOT NULL',
      ]),
    ],
  },
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
