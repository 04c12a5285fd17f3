//! Opens a fresh store per test on either backend, and reopens it for restart tests.

use xingtong_store::{Database, Opened, Store, StoreOptions};

/// Names the PostgreSQL server for the suite.
pub const POSTGRES_URL_VAR: &str = "XINGTONG_TEST_POSTGRES_URL";

/// A fresh, empty database for one test.
pub struct Harness {
    pub options: StoreOptions,
    /// Keeps the SQLite data directory alive for the test's duration.
    _dir: Option<tempfile::TempDir>,
    schema: Option<(String, String)>,
}

pub fn sqlite() -> anyhow::Result<Harness> {
    let dir = tempfile::tempdir()?;
    let options = StoreOptions::new(Database::Sqlite { data_dir: dir.path().to_path_buf() });
    Ok(Harness { options, _dir: Some(dir), schema: None })
}

pub fn postgres() -> anyhow::Result<Option<Harness>> {
    let Ok(url) = std::env::var(POSTGRES_URL_VAR) else {
        return Ok(None);
    };
    if url.is_empty() {
        return Ok(None);
    }
    let schema = format!("xt_test_{}", hex::encode(rand::random::<[u8; 6]>()));
    let options = StoreOptions::new(Database::Postgres { url: url.clone(), schema: Some(schema.clone()) });
    Ok(Some(Harness { options, _dir: None, schema: Some((url, schema)) }))
}

impl Harness {
    /// Opens (or reopens) the store.
    pub async fn open(&self) -> anyhow::Result<Opened> {
        Ok(Store::open(self.options.clone()).await?)
    }

    /// The PostgreSQL server and schema of this harness (URL, schema), if it is one.
    pub fn postgres_schema(&self) -> Option<(String, String)> {
        self.schema.clone()
    }

    /// Drops the test's schema, if it had one (a test that fails before this drops it in `Drop`).
    pub async fn finish(mut self) -> anyhow::Result<()> {
        if let Some((url, schema)) = self.schema.take() {
            tokio::task::spawn_blocking(move || xingtong_store::postgres::drop_schema(&url, &schema)).await??;
        }
        Ok(())
    }
}

impl Drop for Harness {
    /// A failed test leaves no schema behind either. On a thread of its own: the synchronous
    /// client cannot start its runtime inside the test's.
    fn drop(&mut self) {
        if let Some((url, schema)) = self.schema.take() {
            let _ = std::thread::spawn(move || xingtong_store::postgres::drop_schema(&url, &schema)).join();
        }
    }
}
