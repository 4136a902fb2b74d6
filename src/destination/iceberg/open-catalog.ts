/**
 * The catalog (and its storage) a warehouse URL names: the JDBC catalog when it gives one, else
 * path-based tables (on a file system only: parseWarehouse refuses S3 without a catalog).
 */
import { JdbcCatalog } from './jdbc-catalog.js'
import { PathCatalog } from './path-catalog.js'
import type { Catalog } from './catalog.js'
import { S3Storage } from './s3-storage.js'
import { FileStorage } from './storage.js'
import type { WarehouseSpec } from './warehouse-url.js'

export async function openCatalog(spec: WarehouseSpec, readOnly: boolean): Promise<Catalog> {
  const storage = spec.s3 === undefined ? new FileStorage(spec.path as string) : new S3Storage(spec.s3)
  try {
    if (storage instanceof S3Storage && !readOnly) await storage.check()
    if (spec.catalog !== undefined) return await JdbcCatalog.open(storage, spec.catalog, readOnly)
  } catch (error) {
    storage.close()
    throw error
  }
  return new PathCatalog(spec.path as string)
}
