import { Flags } from '@oclif/core';
import { TacoCommand } from '../../cli/base-command.js';
import { maskUrl } from '../../engines/deadline.js';
import { MysqlDb } from '../../engines/mysql/db.js';
import { migrate } from '../../engines/mysql/migrate.js';

export default class DbMigrate extends TacoCommand {
  static override summary = 'Create or upgrade the MySQL/MariaDB schema';
  static override description =
    'Applies the schema migrations the database lacks, recorded in schema_migrations. Idempotent, and safe to run from several nodes at once (one applies, the others wait).';
  static override examples = [
    'TACO_MYSQL_URL=mysql://taco:secret@db:3306/taco <%= config.bin %> db migrate',
    'TACO_MYSQL_URL=mysql://taco:secret@db:3306/shared TACO_MYSQL_PREFIX=taco_ <%= config.bin %> db migrate',
  ];

  static override flags = {
    'mysql-url': Flags.string({ description: 'MySQL/MariaDB URL', env: 'TACO_MYSQL_URL', required: true }),
    'table-prefix': Flags.string({
      description: 'prefix of every table name (or ?tablePrefix= in the URL); the same as taco serve uses',
      env: 'TACO_MYSQL_PREFIX',
    }),
    json: Flags.boolean({ description: 'print the result as one JSON line', default: false }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(DbMigrate);
    const url = flags['mysql-url'];
    const db = await MysqlDb.connect(url, { tablePrefix: flags['table-prefix'] });
    try {
      const r = await migrate(db, { log: (m) => this.logToStderr(m) });
      if (flags.json) this.log(JSON.stringify({ url: maskUrl(url), tablePrefix: db.tablePrefix, ...r }));
      else {
        const where = db.tablePrefix ? `${maskUrl(url)} (tables ${db.tablePrefix}*)` : maskUrl(url);
        if (r.applied.length === 0) this.log(`${where}: schema at version ${r.to}, nothing to do`);
        else this.log(`${where}: schema ${r.from} → ${r.to} (${r.applied.map((a) => a.version).join(', ')})`);
      }
    } finally {
      await db.close();
    }
  }
}
