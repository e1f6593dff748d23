"""The database refuses to change an issued document, whatever the code does (.update(), raw SQL).

PostgreSQL refuses UPDATE and DELETE (a test database is emptied with TRUNCATE, which row triggers
do not see). SQLite refuses UPDATE only: its test runner empties tables with DELETE.
The SQLSTATE 23000 makes Django raise IntegrityError, like a constraint.
"""

from django.db import migrations

PG_CREATE = """
CREATE OR REPLACE FUNCTION documents_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'documents are immutable once issued; issue a credit note instead'
        USING ERRCODE = '23000';
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER document_immutable BEFORE UPDATE OR DELETE ON documents_document
    FOR EACH ROW EXECUTE FUNCTION documents_refuse_change();
"""
PG_DROP = """
DROP TRIGGER IF EXISTS document_immutable ON documents_document;
DROP FUNCTION IF EXISTS documents_refuse_change();
"""
SQLITE_CREATE = """
CREATE TRIGGER document_immutable BEFORE UPDATE ON documents_document
BEGIN SELECT RAISE(ABORT, 'documents are immutable once issued; issue a credit note instead'); END;
"""
SQLITE_DROP = "DROP TRIGGER IF EXISTS document_immutable;"


def create(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_CREATE)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_CREATE)


def drop(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_DROP)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_DROP)


class Migration(migrations.Migration):
    dependencies = [("documents", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
