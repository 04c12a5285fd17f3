//! How ledger values map to columns, the same on both backends.
//!
//! 128-bit ids and amounts are 16-byte big-endian blobs (`BLOB` on SQLite, `BYTEA` on PostgreSQL):
//! exact, and byte order equals numeric order, so comparisons in SQL still sort right.
//! Smaller integers are `INTEGER`/`BIGINT`; a `u64` above `i64::MAX` (user data) is stored bit-cast.

use xingtong_ledger::{Account, AccountFlags, Transfer, TransferFlags};

use crate::StoreError;

/// A 128-bit value as a column.
pub(crate) fn u128_bytes(value: u128) -> [u8; 16] {
    value.to_be_bytes()
}

/// A column back to a 128-bit value.
pub(crate) fn bytes_u128(bytes: &[u8]) -> Result<u128, StoreError> {
    let array: [u8; 16] =
        bytes.try_into().map_err(|_| StoreError::Corrupt(format!("a 128-bit column holds {} bytes", bytes.len())))?;
    Ok(u128::from_be_bytes(array))
}

/// A `u64` as a signed column, bit for bit.
pub(crate) fn u64_int(value: u64) -> i64 {
    value as i64
}

/// A signed column back to the `u64` it holds.
pub(crate) fn int_u64(value: i64) -> u64 {
    value as u64
}

fn int_narrow<T: TryFrom<i64>>(value: i64, what: &str) -> Result<T, StoreError> {
    T::try_from(value).map_err(|_| StoreError::Corrupt(format!("{what} out of range: {value}")))
}

/// A result row of either backend, read by column index.
pub(crate) trait Columns {
    fn int(&self, index: usize) -> Result<i64, StoreError>;
    fn bytes(&self, index: usize) -> Result<Vec<u8>, StoreError>;

    fn u128_at(&self, index: usize) -> Result<u128, StoreError> {
        bytes_u128(&self.bytes(index)?)
    }
}

impl Columns for rusqlite::Row<'_> {
    fn int(&self, index: usize) -> Result<i64, StoreError> {
        Ok(self.get(index)?)
    }
    fn bytes(&self, index: usize) -> Result<Vec<u8>, StoreError> {
        Ok(self.get(index)?)
    }
}

impl Columns for postgres::Row {
    fn int(&self, index: usize) -> Result<i64, StoreError> {
        Ok(self.try_get(index)?)
    }
    fn bytes(&self, index: usize) -> Result<Vec<u8>, StoreError> {
        Ok(self.try_get(index)?)
    }
}

/// The account columns, in the order [`account_from_row`] reads them.
pub(crate) const ACCOUNT_COLUMNS: &str = "id, debits_pending, debits_posted, credits_pending, credits_posted, \
     user_data_128, user_data_64, user_data_32, ledger, code, flags, timestamp";

/// The transfer columns, in the order [`transfer_from_row`] reads them.
pub(crate) const TRANSFER_COLUMNS: &str = "id, debit_account_id, credit_account_id, amount, pending_id, \
     user_data_128, user_data_64, user_data_32, timeout, ledger, code, flags, timestamp";

pub(crate) fn account_from_row(row: &impl Columns) -> Result<Account, StoreError> {
    Ok(Account {
        id: row.u128_at(0)?,
        debits_pending: row.u128_at(1)?,
        debits_posted: row.u128_at(2)?,
        credits_pending: row.u128_at(3)?,
        credits_posted: row.u128_at(4)?,
        user_data_128: row.u128_at(5)?,
        user_data_64: int_u64(row.int(6)?),
        user_data_32: int_narrow(row.int(7)?, "user_data_32")?,
        ledger: int_narrow(row.int(8)?, "ledger")?,
        code: int_narrow(row.int(9)?, "code")?,
        flags: AccountFlags(int_narrow(row.int(10)?, "flags")?),
        timestamp: int_u64(row.int(11)?),
    })
}

pub(crate) fn transfer_from_row(row: &impl Columns) -> Result<Transfer, StoreError> {
    Ok(Transfer {
        id: row.u128_at(0)?,
        debit_account_id: row.u128_at(1)?,
        credit_account_id: row.u128_at(2)?,
        amount: row.u128_at(3)?,
        pending_id: row.u128_at(4)?,
        user_data_128: row.u128_at(5)?,
        user_data_64: int_u64(row.int(6)?),
        user_data_32: int_narrow(row.int(7)?, "user_data_32")?,
        timeout: int_narrow(row.int(8)?, "timeout")?,
        ledger: int_narrow(row.int(9)?, "ledger")?,
        code: int_narrow(row.int(10)?, "code")?,
        flags: TransferFlags(int_narrow(row.int(11)?, "flags")?),
        timestamp: int_u64(row.int(12)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u128_bytes_round_trip_and_sort_like_numbers() {
        for v in [0u128, 1, 255, 256, u128::from(u64::MAX) + 1, u128::MAX] {
            assert_eq!(bytes_u128(&u128_bytes(v)).unwrap(), v);
        }
        assert!(u128_bytes(255) < u128_bytes(256));
        assert!(bytes_u128(&[1, 2, 3]).is_err());
        assert_eq!(int_u64(u64_int(u64::MAX)), u64::MAX);
    }
}
