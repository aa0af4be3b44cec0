/**
 * The MySQL schema as numbered migrations. Append only: a released migration
 * is never edited; a change is a new version. Every statement is idempotent
 * (IF NOT EXISTS), so a migration interrupted half-way simply runs again.
 * `t(name)` adds the table prefix. Ids are case-sensitive (utf8mb4_bin);
 * ezones compare byte-wise (VARBINARY), like the Redis script and the JS twin.
 */
export interface Migration {
  version: number;
  name: string;
  statements: (t: (name: string) => string) => string[];
}

const TABLE = 'ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin';

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'messages, history, idempotency, channels, configs',
    statements: (t) => [
      `CREATE TABLE IF NOT EXISTS ${t('messages')} (
        id BIGINT UNSIGNED NOT NULL PRIMARY KEY,
        app VARCHAR(128) NOT NULL,
        device VARCHAR(255) NOT NULL,
        kind VARCHAR(16) NOT NULL,
        title TEXT NULL,
        body TEXT NULL,
        data MEDIUMTEXT NULL,
        priority VARCHAR(8) NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        status VARCHAR(16) NOT NULL,
        status_rank TINYINT UNSIGNED NOT NULL,
        channel VARCHAR(16) NULL,
        pending TINYINT(1) NOT NULL,
        done_at BIGINT NULL,
        KEY pending_by_device (app, device, pending, created_at),
        KEY pending_by_expiry (pending, expires_at),
        KEY done (done_at)
      ) ${TABLE}`,
      `CREATE TABLE IF NOT EXISTS ${t('message_history')} (
        seq BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
        message_id BIGINT UNSIGNED NOT NULL,
        status VARCHAR(16) NOT NULL,
        at BIGINT NOT NULL,
        KEY by_message (message_id, seq)
      ) ${TABLE}`,
      `CREATE TABLE IF NOT EXISTS ${t('idempotency_keys')} (
        app VARCHAR(128) NOT NULL,
        ikey VARCHAR(255) NOT NULL,
        ids MEDIUMTEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (app, ikey),
        KEY by_time (created_at)
      ) ${TABLE}`,
      `CREATE TABLE IF NOT EXISTS ${t('device_channels')} (
        app VARCHAR(128) NOT NULL,
        device VARCHAR(255) NOT NULL,
        channel VARCHAR(16) NOT NULL,
        token TEXT NOT NULL,
        registered_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (app, device, channel)
      ) ${TABLE}`,
      `CREATE TABLE IF NOT EXISTS ${t('app_configs')} (
        app VARCHAR(128) NOT NULL,
        platform VARCHAR(16) NOT NULL,
        version INT UNSIGNED NOT NULL,
        data MEDIUMTEXT NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (app, platform)
      ) ${TABLE}`,
      `CREATE TABLE IF NOT EXISTS ${t('app_config_versions')} (
        app VARCHAR(128) NOT NULL,
        platform VARCHAR(16) NOT NULL,
        version INT UNSIGNED NOT NULL,
        data MEDIUMTEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (app, platform, version)
      ) ${TABLE}`,
    ],
  },
  {
    version: 2,
    name: 'routes (source of truth behind Redis)',
    statements: (t) => [
      `CREATE TABLE IF NOT EXISTS ${t('routes')} (
        app VARCHAR(128) NOT NULL,
        device VARCHAR(255) NOT NULL,
        user VARCHAR(255) NULL,
        loc VARCHAR(255) NULL,
        node INT UNSIGNED NOT NULL,
        ezone VARBINARY(64) NOT NULL,
        session VARCHAR(255) NOT NULL,
        updated_at BIGINT NOT NULL,
        PRIMARY KEY (app, device)
      ) ${TABLE}`,
      `CREATE TABLE IF NOT EXISTS ${t('user_devices')} (
        app VARCHAR(128) NOT NULL,
        user VARCHAR(255) NOT NULL,
        device VARCHAR(255) NOT NULL,
        PRIMARY KEY (app, user, device)
      ) ${TABLE}`,
      `CREATE TABLE IF NOT EXISTS ${t('app_devices')} (
        app VARCHAR(128) NOT NULL,
        device VARCHAR(255) NOT NULL,
        first_seen BIGINT NOT NULL,
        PRIMARY KEY (app, device)
      ) ${TABLE}`,
    ],
  },
  {
    version: 3,
    name: 'shard map versions (GZS; global, shared by every ezone)',
    // The same table MysqlShardMapStore.ensureTable() creates, so either may come first.
    statements: (t) => [
      `CREATE TABLE IF NOT EXISTS ${t('shard_map_versions')} (
        version INT UNSIGNED NOT NULL PRIMARY KEY,
        kind VARCHAR(16) NOT NULL,
        changed_by VARCHAR(255) NOT NULL,
        changed_at BIGINT NOT NULL,
        state MEDIUMTEXT NOT NULL
      ) ${TABLE}`,
    ],
  },
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
