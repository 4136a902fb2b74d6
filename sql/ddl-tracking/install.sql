-- Inlet DDL tracking, version 1: install (idempotent; running it again changes nothing).
--
-- Records every DDL command into inlet.inlet_ddl_audit from event triggers. The audit table is
-- added to Inlet's publication (`inlet setup --ddl-tracking` does it), so each schema change
-- reaches the replication stream inside the transaction that ran it, at its place in WAL order,
-- before any row that depends on it.
--
-- Run it as a superuser (rds_superuser on RDS/Aurora), once in every replicated database:
--   psql -v ON_ERROR_STOP=1 -d DATABASE -f install.sql
-- Remove it with uninstall.sql.
--
-- Safety:
--   * The trigger functions catch their own errors and raise a WARNING: a failure to record
--     never breaks the user's DDL.
--   * SECURITY DEFINER with a pinned search_path (pg_catalog, pg_temp): no object a user creates
--     can stand in for a built-in.
--   * The triggers are ENABLE ALWAYS, so they fire under session_replication_role = replica too
--     (restore and sync tools set it).
--   * SET inlet.skip_ddl_audit = on skips recording for one session (emergencies only).

begin;

create schema if not exists inlet;
comment on schema inlet is 'Inlet CDC: DDL tracking (see inlet.ddl_tracking_version())';
revoke all on schema inlet from public;

create table if not exists inlet.inlet_ddl_audit (
  id bigint generated always as identity primary key,
  -- ddl_command_end, sql_drop or table_rewrite
  event text not null,
  command_tag text not null,
  object_type text,
  schema_name text,
  object_identity text,
  object_oid oid,
  -- the column's attnum for column objects, else 0
  object_subid integer,
  -- for tables: every column by attnum (dropped ones included, so renames are told from drop + add)
  columns jsonb,
  -- for tables: primary key attnums and relreplident
  primary_key smallint[],
  replica_identity text,
  -- event-specific facts: rewrite reason, drop flags
  detail jsonb,
  -- current_query(): may hold several statements; for people, not for replay
  command text,
  transaction_id xid8 not null default pg_current_xact_id(),
  ddl_user text not null default current_user,
  created_at timestamptz not null default now(),
  tracking_version integer not null
);
comment on table inlet.inlet_ddl_audit is 'Inlet CDC: one row per DDL command object, streamed through the publication';
revoke all on inlet.inlet_ddl_audit from public;

create or replace function inlet.ddl_tracking_version() returns integer
  language sql immutable
  as 'select 1';

-- Every column of a table by attnum, as the audit table stores it.
create or replace function inlet.table_columns(rel oid) returns jsonb
  language sql stable
  set search_path = pg_catalog, pg_temp
  as $$
    select jsonb_agg(jsonb_build_object(
             'attnum', a.attnum,
             'name', a.attname,
             'type', format_type(a.atttypid, a.atttypmod),
             'type_oid', a.atttypid,
             'typmod', a.atttypmod,
             'not_null', a.attnotnull,
             'default', pg_get_expr(d.adbin, d.adrelid),
             'identity', nullif(a.attidentity::text, ''),
             'generated', nullif(a.attgenerated::text, ''),
             'dropped', a.attisdropped,
             -- what rows that existed at ADD COLUMN ... DEFAULT hold without a rewrite (text form)
             'missing', case when a.atthasmissing then (a.attmissingval::text::text[])[1] end)
           order by a.attnum)
    from pg_attribute a
    left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
    where a.attrelid = rel and a.attnum > 0
  $$;

-- Objects we never record: our own, temporary ones, and catalog internals.
create or replace function inlet.is_ignored_schema(schema_name text) returns boolean
  language sql immutable
  set search_path = pg_catalog, pg_temp
  as $$
    select schema_name is not null
       and (schema_name in ('inlet', 'pg_catalog', 'information_schema')
            or schema_name like 'pg\_temp%' or schema_name like 'pg\_toast%')
  $$;

-- The per-session escape hatch: SET inlet.skip_ddl_audit = on.
create or replace function inlet.skip_requested() returns boolean
  language sql stable
  set search_path = pg_catalog, pg_temp
  as $$ select coalesce(current_setting('inlet.skip_ddl_audit', true), '') = 'on' $$;

create or replace function inlet.on_ddl_command_end() returns event_trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
  as $$
  declare
    cmd record;
    is_table boolean;
  begin
    if inlet.skip_requested() then
      return;
    end if;
    for cmd in select * from pg_event_trigger_ddl_commands() loop
      continue when cmd.in_extension or inlet.is_ignored_schema(cmd.schema_name);
      begin
        is_table := cmd.classid = 'pg_class'::regclass
                    and exists (select 1 from pg_class c where c.oid = cmd.objid and c.relkind in ('r', 'p'));
        insert into inlet.inlet_ddl_audit
          (event, command_tag, object_type, schema_name, object_identity, object_oid, object_subid,
           columns, primary_key, replica_identity, command, tracking_version)
        values
          ('ddl_command_end', cmd.command_tag, cmd.object_type, cmd.schema_name, cmd.object_identity,
           cmd.objid, cmd.objsubid,
           case when is_table then inlet.table_columns(cmd.objid) end,
           case when is_table then (select i.indkey::int2[] from pg_index i
                                     where i.indrelid = cmd.objid and i.indisprimary) end,
           case when is_table then (select c.relreplident::text from pg_class c where c.oid = cmd.objid) end,
           current_query(), 1);
      exception when others then
        raise warning 'inlet DDL tracking could not record % on %: % (SQLSTATE %)',
          cmd.command_tag, cmd.object_identity, sqlerrm, sqlstate;
      end;
    end loop;
  exception when others then
    raise warning 'inlet DDL tracking failed: % (SQLSTATE %)', sqlerrm, sqlstate;
  end
  $$;

create or replace function inlet.on_sql_drop() returns event_trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
  as $$
  declare
    obj record;
  begin
    if inlet.skip_requested() then
      return;
    end if;
    for obj in select * from pg_event_trigger_dropped_objects() loop
      -- keep what the user dropped, and tables or columns dropped by CASCADE
      continue when obj.is_temporary or inlet.is_ignored_schema(obj.schema_name)
                 or not (obj.original or obj.object_type in ('table', 'table column'));
      begin
        insert into inlet.inlet_ddl_audit
          (event, command_tag, object_type, schema_name, object_identity, object_oid, object_subid,
           detail, command, tracking_version)
        values
          ('sql_drop', tg_tag, obj.object_type, obj.schema_name, obj.object_identity, obj.objid, obj.objsubid,
           jsonb_build_object('original', obj.original, 'normal', obj.normal, 'object_name', obj.object_name),
           current_query(), 1);
      exception when others then
        raise warning 'inlet DDL tracking could not record the drop of %: % (SQLSTATE %)',
          obj.object_identity, sqlerrm, sqlstate;
      end;
    end loop;
  exception when others then
    raise warning 'inlet DDL tracking failed: % (SQLSTATE %)', sqlerrm, sqlstate;
  end
  $$;

-- A rewrite (ALTER COLUMN TYPE ... USING, ADD COLUMN with a volatile default) changes rows without
-- any row event: the consumer must re-snapshot the table.
create or replace function inlet.on_table_rewrite() returns event_trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
  as $$
  declare
    rel oid;
    nsp text;
  begin
    if inlet.skip_requested() then
      return;
    end if;
    rel := pg_event_trigger_table_rewrite_oid();
    select n.nspname into nsp from pg_class c join pg_namespace n on n.oid = c.relnamespace where c.oid = rel;
    if inlet.is_ignored_schema(nsp) then
      return;
    end if;
    insert into inlet.inlet_ddl_audit
      (event, command_tag, object_type, schema_name, object_identity, object_oid, object_subid,
       detail, command, tracking_version)
    values
      ('table_rewrite', tg_tag, 'table', nsp, rel::regclass::text, rel, 0,
       jsonb_build_object('reason', pg_event_trigger_table_rewrite_reason()),
       current_query(), 1);
  exception when others then
    raise warning 'inlet DDL tracking failed: % (SQLSTATE %)', sqlerrm, sqlstate;
  end
  $$;

revoke all on function inlet.on_ddl_command_end(), inlet.on_sql_drop(), inlet.on_table_rewrite() from public;

drop event trigger if exists inlet_ddl_command_end;
create event trigger inlet_ddl_command_end on ddl_command_end execute function inlet.on_ddl_command_end();
alter event trigger inlet_ddl_command_end enable always;

drop event trigger if exists inlet_sql_drop;
create event trigger inlet_sql_drop on sql_drop execute function inlet.on_sql_drop();
alter event trigger inlet_sql_drop enable always;

drop event trigger if exists inlet_table_rewrite;
create event trigger inlet_table_rewrite on table_rewrite execute function inlet.on_table_rewrite();
alter event trigger inlet_table_rewrite enable always;

commit;
