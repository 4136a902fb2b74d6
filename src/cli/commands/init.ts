/**
 * `inlet init`: the source-setup document as one guided session. Connects as an admin, lists the
 * tables, takes the choices, shows and (when told) applies the setup SQL, runs doctor, writes a
 * commented inlet.yaml without secrets, and offers the next database on the same server.
 */
import { accessSync, constants, existsSync, statSync, writeFileSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { DEFAULT_CONFIG_FILE, DEFAULT_DESTINATION, DEFAULT_PUBLICATION } from '../../config/load.js'
import { configSchema } from '../../config/schema.js'
import { InletError, isInletError, causeText } from '../../errors/inlet-error.js'
import { connect, type SqlClient } from '../../postgres/connect.js'
import { parseConnectionString, settingsFromEnv, toSafeUrl, type ConnectionSettings } from '../../postgres/connection-settings.js'
import { parseCommandArgs } from '../args.js'
import { renderConfig, type InitSource } from '../init/config-file.js'
import { setUpDatabase } from '../init/database-session.js'
import { createPrompter, type Prompter } from '../init/prompter.js'
import { bold, dim, err, green, out, red, yellow } from '../terminal.js'

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/

export const INIT_HELP = `inlet init: set up a source database step by step and write inlet.yaml

On a terminal it asks, with a default in brackets for each question: the admin connection, the
replication user, the tables (from a list with size, primary key, replica identity and TOAST-able
columns), which keep history (SCD2) and which columns to leave out. It shows the setup SQL in
the order of the source-setup document, applies it only when you say so, runs doctor, writes a
commented inlet.yaml (never a password: PGPASSWORD or ~/.pgpass supply them) and offers to set up
another database on the same server, each with its own publication and slot.

With --yes nothing is asked: flags answer, defaults fill the rest, and the SQL is applied.

  --admin URL            a superuser or the tables' owner, which runs the setup
                         (default: --source, or the PG* environment variables)
  --user NAME            the replication user to create or use (default: --source's user, or inlet)
  --source URL           the replication connection, when it differs from the admin's (a pooler,
                         a replica host name); each database set up keeps its own name in it
  --database NAME        a database to set up; repeat for several, then none other is asked
                         (default: --source's database, else the admin URL's)
  --tables LIST          numbers from the list, patterns (public.*) or all (default: all)
  --scd2 LIST            tables that keep every version of a row (default: none)
  --exclude LIST         columns never copied: schema.table.column, comma-separated
  --destination DEST     where the tables land (default: ${DEFAULT_DESTINATION})
  --publication NAME     publication in each database (default: ${DEFAULT_PUBLICATION})
  --ddl-tracking         also install DDL tracking (schema changes seen as they happen)
  --output FILE          the config file to write (default: ${DEFAULT_CONFIG_FILE})
  --force                replace the config file if it exists
  --yes                  ask nothing; apply the setup SQL
  --no-apply             apply nothing; show the SQL and write the config
  -h, --help             this help

The new replication user's password: INLET_REPLICATION_PASSWORD, or a hidden prompt.`

export async function initCommand(args: readonly string[]): Promise<number> {
  const { values } = parseCommandArgs('init', args, {
    admin: { type: 'string' },
    user: { type: 'string' },
    source: { type: 'string' },
    database: { type: 'string', multiple: true },
    tables: { type: 'string' },
    scd2: { type: 'string' },
    exclude: { type: 'string' },
    destination: { type: 'string' },
    publication: { type: 'string' },
    'ddl-tracking': { type: 'boolean' },
    output: { type: 'string' },
    force: { type: 'boolean' },
    yes: { type: 'boolean' },
    'no-apply': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  })
  if (values.help === true) {
    out(INIT_HELP)
    return 0
  }
  const str = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined)
  const yes = values.yes === true
  // Questions go to stderr: stdout may be piped (inlet init | tee init.log).
  if (!yes && (process.stdin.isTTY !== true || process.stderr.isTTY !== true)) {
    throw new InletError('INLET-U004', 'inlet init asks its questions on a terminal, and this is not one.', {
      fix: 'INLET_REPLICATION_PASSWORD=... inlet init --yes --admin postgres://ADMIN@HOST/DB --tables "public.*" (every question left out takes its default)',
    })
  }
  const prompter = createPrompter(!yes)
  const env = process.env
  const output = str('output') ?? DEFAULT_CONFIG_FILE
  const publication = str('publication') ?? DEFAULT_PUBLICATION
  // Bad flags fail before anything is applied.
  if (!IDENTIFIER.test(publication)) throw new InletError('INLET-C004', `--publication: ${publication} is not a plain identifier; use letters, digits and underscores (at most 63), starting with a letter or underscore.`, { fix: 'inlet init --publication inlet_pub' })
  const outputDirectory = dirname(resolve(output))
  if (!isWritableDirectory(outputDirectory)) throw new InletError('INLET-C004', `--output: the directory ${outputDirectory} does not exist or is not writable.`, { fix: `mkdir -p ${outputDirectory}, or inlet init --output ./inlet.yaml` })
  if (existsSync(output) && values.force !== true) {
    const replace = await prompter.confirm(`${output} exists. Replace it?`, { fallback: false })
    if (!replace) throw new InletError('INLET-U005', `${output} exists, and inlet init does not overwrite it.`, { fix: `inlet init --output another.yaml, or inlet init --force to replace ${output}` })
  }
  const flagged = str('destination')
  const destinationProblem = (a: string) => (configSchema.shape.destination.safeParse(a).success ? undefined : 'use duckdb:FILE, iceberg:file:///DIR or iceberg:s3://BUCKET/PREFIX?catalog=postgresql://USER@HOST/DB')
  if (flagged !== undefined && destinationProblem(flagged) !== undefined) throw new InletError('INLET-C004', `--destination: ${destinationProblem(flagged)}`, { fix: 'inlet init --help' })
  const given = str('source')
  // Here PGPASSWORD is the admin's: only a password written in --source is the replication user's.
  const sourceGiven = given === undefined ? undefined : parseConnectionString(given, { ...env, PGPASSWORD: undefined })
  // The default shown in brackets never carries a password; --yes shows nothing and takes the URL whole.
  const fallbackAdmin = sourceGiven !== undefined ? (prompter.interactive ? toSafeUrl(sourceGiven) : (given ?? '')) : env.PGHOST !== undefined || env.PGDATABASE !== undefined ? toSafeUrl(settingsFromEnv(env)) : ''
  let { admin, client } = await connectAdmin(prompter, str('admin'), fallbackAdmin, env)
  try {
    const user = await prompter.ask('Replication user (created if missing; least privilege)', {
      given: str('user'),
      fallback: sourceGiven?.user ?? 'inlet',
      flag: 'user',
      validate: (a) => (IDENTIFIER.test(a) ? undefined : 'use letters, digits and underscores (at most 63), starting with a letter'),
    })
    let password: string | undefined
    const askPassword = async () => {
      if (password !== undefined) return password
      const fromEnv = env.INLET_REPLICATION_PASSWORD
      if (fromEnv !== undefined && fromEnv !== '') return (password = fromEnv)
      if (!prompter.interactive) {
        throw new InletError('INLET-U001', `Creating the replication user ${user} needs a password, and --yes asks nothing.`, { fix: 'export INLET_REPLICATION_PASSWORD=... (from your secret store), then run inlet init again.' })
      }
      return (password = await prompter.secret(`Password for the new replication user ${user}: `))
    }
    // For doctor as an existing replication user: its password, when nothing else supplies it.
    const existingPassword = async (): Promise<string | undefined> => {
      if (password !== undefined || sourceGiven?.password !== undefined) return password ?? sourceGiven?.password
      if (!prompter.interactive || existsSync(env.PGPASSFILE ?? join(homedir(), '.pgpass'))) return undefined
      const answer = await prompter.secretOnce(`Password of ${user}, to run doctor as it (not stored; empty to skip): `)
      return answer === '' ? undefined : (password = answer)
    }
    const databases = (values.database as string[] | undefined) ?? []
    const sources: InitSource[] = []
    const write = (destination: string) => writeFileSync(output, renderConfig(sources, destination, new Date().toISOString().slice(0, 10), output), { mode: 0o644 })
    let destination: string
    try {
      for (let index = 0; ; index++) {
        const database = index === 0 ? (databases[0] ?? sourceGiven?.database ?? admin.database) : databases.length > 0 || !prompter.interactive ? databases[index] : await nextDatabase(prompter, sources)
        if (database === undefined) break
        if (database !== admin.database) {
          try {
            const next = await connectAdmin(prompter, toSafeUrl({ ...admin, database }), '', env, admin.password)
            await client.end().catch(() => undefined)
            ;({ admin, client } = next)
          } catch (error) {
            // A typo in the next database's name: say why and ask again (the first database's choice stands).
            if (index === 0 || databases.length > 0 || !prompter.interactive || !isInletError(error)) throw error
            printError(error)
            index--
            continue
          }
        }
        const source: ConnectionSettings = { ...(sourceGiven ?? admin), database, user, password: sourceGiven?.password }
        const result = await setUpDatabase(
          client,
          { admin, source, publication, ddlTracking: values['ddl-tracking'] === true, env, password: askPassword, knownPassword: () => password ?? source.password, existingPassword, taken: sources },
          { tables: str('tables'), scd2: str('scd2'), exclude: str('exclude'), apply: values['no-apply'] === true ? false : yes ? true : undefined },
          prompter,
        )
        if (result !== undefined) sources.push(result)
      }
      if (sources.length === 0) throw new InletError('INLET-C006', 'No database with tables was set up, so there is no config to write.', { fix: 'Create the tables, or pass --database NAME for a database that has them.' })
      destination = await prompter.ask('Where the tables land', { given: flagged, fallback: DEFAULT_DESTINATION, flag: 'destination', validate: destinationProblem })
    } catch (error) {
      // What was set up before the error is not lost: its config is written (the destination may be edited).
      if (sources.length > 0) {
        write(flagged ?? DEFAULT_DESTINATION)
        err(`${yellow(`Wrote ${output}`)} for the ${sources.length} database${sources.length === 1 ? '' : 's'} set up before this stopped (${sources.map((s) => s.name).join(', ')}); destination ${flagged ?? DEFAULT_DESTINATION}, change it in the file if need be.`)
      }
      throw error
    }
    write(destination)
    const flag = output === DEFAULT_CONFIG_FILE ? '' : ` --config ${output}`
    out('')
    out(green(`Wrote ${output}`) + dim(` (${sources.length} database${sources.length === 1 ? '' : 's'}, no password in it).`))
    out(bold('Next:'))
    out(`  export PGPASSWORD=...    ${dim(`the password of ${user}, or a ~/.pgpass line (see the file's header)`)}`)
    out(`  inlet run${flag}${' '.repeat(Math.max(1, 15 - flag.length))}${dim(`copies the tables, then streams their changes into ${destination}`)}`)
    out(`  inlet status${flag}${' '.repeat(Math.max(1, 12 - flag.length))}${dim("each table's phase, rows and lag")}`)
    return 0
  } finally {
    await client.end().catch(() => undefined)
  }
}

/** The next database's name, or undefined to finish (also on Ctrl-C or end of input: nothing is lost by finishing). */
async function nextDatabase(prompter: Prompter, done: readonly InitSource[]): Promise<string | undefined> {
  try {
    const answer = await prompter.ask('Set up another database on this server? Its name, or empty to finish', {
      fallback: '',
      validate: (a) => (a !== '' && done.some((s) => s.connection.database === a) ? `${a} is set up already.` : undefined),
    })
    return answer === '' ? undefined : answer
  } catch (error) {
    if (isInletError(error) && error.code === 'INLET-U006') return undefined
    throw error
  }
}

function printError(error: InletError): void {
  err(`${red('error')} ${error.code}: ${error.message}`)
  const cause = causeText(error)
  if (cause !== undefined) err(dim(`cause: ${cause}`))
  if (error.fix !== undefined) err(`fix: ${error.fix}`)
}

function isWritableDirectory(path: string): boolean {
  try {
    accessSync(path, constants.W_OK)
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}

/** Asks for the admin connection until it connects (on a terminal), or fails with the clear error. */
async function connectAdmin(prompter: Prompter, given: string | undefined, fallback: string, env: NodeJS.ProcessEnv, password?: string): Promise<{ admin: ConnectionSettings; client: SqlClient }> {
  for (;;) {
    const text = await prompter.ask('Admin connection (a superuser or the tables\' owner), libpq URL', {
      given,
      fallback,
      flag: 'admin',
      validate: (a) => {
        if (a === '') return 'give a URL such as postgres://postgres@db.example.com:5432/shop'
        try {
          parseConnectionString(a, env)
          return undefined
        } catch (error) {
          return isInletError(error) ? error.message : String(error)
        }
      },
    })
    let admin = parseConnectionString(text, env)
    if (admin.password === undefined && password !== undefined) admin = { ...admin, password }
    for (;;) {
      try {
        return { admin, client: await connect(admin) }
      } catch (error) {
        if (!prompter.interactive || given !== undefined || !isInletError(error)) throw error
        // No password anywhere and the server wants one: ask for it, then try the same URL again.
        if (error.code === 'INLET-N002' && admin.password === undefined) {
          admin = { ...admin, password: await prompter.secretOnce(`Password for ${admin.user} (not stored): `) }
          continue
        }
        printError(error)
        fallback = toSafeUrl(admin)
        password = undefined
        break
      }
    }
  }
}
