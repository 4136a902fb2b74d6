-- Inlet DDL tracking: uninstall (idempotent). Removes the event triggers, functions and audit
-- table (which also leaves any publication it was in), and the inlet schema when nothing else
-- is left in it. Run as a superuser (rds_superuser on RDS/Aurora) in each database:
--   psql -v ON_ERROR_STOP=1 -d DATABASE -f uninstall.sql

begin;

drop event trigger if exists inlet_ddl_command_end;
drop event trigger if exists inlet_sql_drop;
drop event trigger if exists inlet_table_rewrite;

drop function if exists inlet.on_ddl_command_end();
drop function if exists inlet.on_sql_drop();
drop function if exists inlet.on_table_rewrite();
drop function if exists inlet.is_ignored_schema(text);
drop function if exists inlet.skip_requested();
drop function if exists inlet.table_columns(oid);
drop function if exists inlet.ddl_tracking_version();
drop table if exists inlet.inlet_ddl_audit;

do $$
begin
  if exists (select 1 from pg_namespace where nspname = 'inlet')
     and not exists (select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'inlet')
     and not exists (select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'inlet')
     and not exists (select 1 from pg_type t join pg_namespace n on n.oid = t.typnamespace where n.nspname = 'inlet')
  then
    drop schema inlet;
  end if;
end
$$;

commit;
