//! Devices (journey step 3): ordered at approval, shipped by staff, bound by activation (the terminal
//! presents MID, serial number and activation code and receives its master key, once), activated by
//! its first approved card sale at or above the activation amount, and suspended by staff.

use serde::{Deserialize, Serialize};
use xingtong_crypto::Key;
use xingtong_crypto::secret::activation_key;
use xingtong_store::{Change, RecordQuery, UniqueKey, now_ns};

use crate::Merchants;
use crate::entity::{Entity, Stored, by_key, get, insert, list, retrying};
use crate::error::{Class, Error, Result};
use crate::identity::{Principal, Role, User, audit};
use crate::merchant::Merchant;
use crate::notify::{Template, notification_to_user};

/// A device's life cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceStatus {
    /// Made at approval.
    Ordered,
    /// On its way to the merchant.
    Shipped,
    /// Bound to the merchant; holds its master key.
    Bound,
    /// Its first approved card sale at or above the activation amount has been made (已激活).
    Activated,
    /// Stopped by staff.
    Suspended,
}

/// One step in a device's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceStep {
    /// ns since the epoch.
    pub at: u64,
    /// Entered.
    pub status: DeviceStatus,
    /// Who.
    pub actor: String,
}

/// A POS device with its terminal id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Device {
    /// Terminal id, 8 digits.
    pub tid: String,
    /// Its merchant.
    pub mid: String,
    /// Model.
    pub model: String,
    /// Serial number (unique).
    pub serial_number: String,
    /// Where it stands.
    pub status: DeviceStatus,
    /// The activation code (16 digits), kept until the device is bound, then erased.
    pub activation_code: Option<String>,
    /// Wrong activation codes so far; at [`ACTIVATION_TRIES_MAX`] activation is refused until staff issue a new code.
    pub activation_failures: u32,
    /// The terminal master key under the host's master key (hex), once bound.
    pub tmk_under_lmk: Option<String>,
    /// The TMK's check value (hex).
    pub tmk_check_value: Option<String>,
    /// Shipping address.
    pub shipping_address: String,
    /// Deposit (押金), fen.
    pub deposit_minor: i64,
    /// The first approved sale at or above this amount activates the device, fen.
    pub activation_amount_minor: i64,
    /// Card volume after which the deposit is refunded, fen.
    pub deposit_refund_volume_minor: i64,
    /// … within this many days of activation.
    pub deposit_refund_days: u32,
    /// Courier tracking number, when shipped.
    pub tracking_number: Option<String>,
    /// Every status it went through.
    pub history: Vec<DeviceStep>,
    /// The status it had when suspended (resumed to it).
    pub suspended_from: Option<DeviceStatus>,
}

impl Entity for Device {
    const KIND: &'static str = "device";
    fn id(&self) -> String {
        self.tid.clone()
    }
    fn owner(&self) -> String {
        self.mid.clone()
    }
    fn status(&self) -> String {
        serde_json::to_value(self.status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
    }
}

impl Device {
    /// The unique key of its serial number.
    pub fn serial_key(&self) -> UniqueKey {
        UniqueKey { kind: Device::KIND.into(), key: format!("serial:{}", self.serial_number), id: self.tid.clone() }
    }

    fn step(&mut self, status: DeviceStatus, actor: String) {
        self.status = status;
        self.history.push(DeviceStep { at: now_ns(), status, actor });
    }
}

/// Wrong activation codes accepted before activation locks.
pub const ACTIVATION_TRIES_MAX: u32 = 5;

/// A fresh 16-digit activation code (53 bits: typed on a numeric keypad, out of reach of guessing,
/// and, through PBKDF2, of offline search).
pub fn new_activation_code() -> String {
    let mut code = String::with_capacity(16);
    while code.len() < 16 {
        let byte: u8 = rand::random();
        // Rejection sampling keeps every digit equally likely.
        if byte < 250 {
            code.push(char::from(b'0' + byte % 10));
        }
    }
    code
}

/// A serial number: 4 to 32 upper-case letters, digits or '-'.
pub fn check_serial(serial: &str) -> Result<String> {
    let serial = serial.trim().to_uppercase();
    if (4..=32).contains(&serial.len()) && serial.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        Ok(serial)
    } else {
        Err(Error::new(
            Class::Unprocessable,
            "invalid_serial_number",
            "a serial number is 4 to 32 letters, digits or '-'",
        ))
    }
}

/// What a terminal presents to activate.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivationRequest {
    /// Merchant number.
    pub mid: String,
    /// Device serial number.
    pub serial_number: String,
    /// Activation code.
    pub activation_code: String,
}

/// What an activated terminal receives.
#[derive(Debug, Clone, Serialize)]
pub struct Activation {
    /// Its merchant.
    pub mid: String,
    /// Its terminal id.
    pub tid: String,
    /// The merchant's trading name, for the slips the terminal prints.
    pub merchant_name: String,
    /// The TMK encrypted (3DES ECB) under the key derived from the activation code, hex.
    pub tmk_under_activation_key: String,
    /// The TMK's check value, hex: the terminal checks what it decrypted.
    pub tmk_check_value: String,
    /// How the key is derived.
    pub kdf: Kdf,
}

/// The activation key's derivation, spelled out for the terminal.
#[derive(Debug, Clone, Serialize)]
pub struct Kdf {
    /// `PBKDF2-HMAC-SHA256`.
    pub algorithm: &'static str,
    /// Iterations.
    pub iterations: u32,
    /// The salt, as UTF-8.
    pub salt: String,
    /// Bytes of key (16: a double-length 3DES key).
    pub key_length: u32,
}

/// What `xingtong admin terminal provision` prints: the TMK in clear, for key loading.
pub struct Provisioned {
    /// Merchant number.
    pub mid: String,
    /// Terminal id.
    pub tid: String,
    /// Serial number.
    pub serial_number: String,
    /// The TMK.
    pub tmk: Key,
}

impl std::fmt::Debug for Provisioned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provisioned").field("mid", &self.mid).field("tid", &self.tid).field("tmk", &self.tmk).finish()
    }
}

fn refused() -> Error {
    Error::new(Class::Forbidden, "activation_refused", "the merchant number, serial number or activation code is wrong")
}

impl Merchants {
    fn new_tmk() -> Key {
        Key::generate(16, &mut |bytes| rand::fill(bytes)).expect("16 bytes is a key length")
    }

    /// The TMK of a bound device (for sign-in).
    pub fn device_tmk(&self, device: &Device) -> Result<Option<Key>> {
        let Some(wrapped) = &device.tmk_under_lmk else { return Ok(None) };
        let bytes = hex::decode(wrapped).map_err(|_| Error::new(Class::Internal, "internal", "internal error"))?;
        let key = self
            .master_key
            .unwrap_key(&bytes)
            .map_err(|_| Error::new(Class::Internal, "internal", "internal error"))?;
        Ok(Some(key))
    }

    /// Activates a device: checks MID, serial number and code, binds the device, and delivers a
    /// fresh TMK under the activation key. Works once; wrong codes count towards a lock.
    pub async fn activate(&self, request: ActivationRequest) -> Result<Activation> {
        let serial = check_serial(&request.serial_number).map_err(|_| refused())?;
        let code = request.activation_code.trim().to_owned();
        retrying(|| async {
            let device = by_key::<Device>(&self.store, &format!("serial:{serial}")).await?.ok_or_else(refused)?;
            if device.value.mid != request.mid.trim() {
                return Err(refused());
            }
            match device.value.status {
                // Along ordered → shipped → bound → activated only: a device that has not been
                // shipped is not in the merchant's hands.
                DeviceStatus::Shipped => {}
                DeviceStatus::Ordered => {
                    return Err(Error::new(
                        Class::Conflict,
                        "device_not_shipped",
                        "this device has not been shipped yet; activate it once it arrives",
                    ));
                }
                DeviceStatus::Suspended => {
                    return Err(Error::new(
                        Class::Forbidden,
                        "device_suspended",
                        "this device is suspended; call support",
                    ));
                }
                _ => {
                    return Err(Error::new(
                        Class::Conflict,
                        "device_already_bound",
                        "this device is already activated; an activation code works once",
                    ));
                }
            }
            if device.value.activation_failures >= ACTIVATION_TRIES_MAX {
                return Err(Error::new(
                    Class::Locked,
                    "activation_locked",
                    "too many wrong activation codes; staff must issue a new one",
                ));
            }
            let expected = device.value.activation_code.clone().unwrap_or_default();
            if expected.is_empty() || !xingtong_crypto::constant_time_eq(expected.as_bytes(), code.as_bytes()) {
                let mut failed = device.clone();
                failed.value.activation_failures += 1;
                let detail = serde_json::json!({ "failures": failed.value.activation_failures });
                self.store
                    .apply(Change {
                        puts: vec![failed.update()?],
                        audit: vec![audit(
                            "terminal",
                            "device.activation_failed",
                            Device::KIND,
                            &device.value.tid,
                            &detail.to_string(),
                        )],
                        ..Change::default()
                    })
                    .await?;
                return Err(refused());
            }
            let iterations = self.config.activation_kdf_iterations;
            let (mid, serial_for_kdf, code_for_kdf) = (device.value.mid.clone(), serial.clone(), code.clone());
            let kek =
                tokio::task::spawn_blocking(move || activation_key(&code_for_kdf, &mid, &serial_for_kdf, iterations))
                    .await
                    .map_err(|_| Error::new(Class::Internal, "internal", "internal error"))?
                    .map_err(|_| Error::new(Class::Internal, "internal", "internal error"))?;
            let tmk = Self::new_tmk();
            let mut bound = device.clone();
            bound.value.activation_code = None;
            bound.value.tmk_under_lmk = Some(hex::encode_upper(self.master_key.wrap(&tmk)));
            bound.value.tmk_check_value = Some(hex::encode_upper(tmk.check_value()));
            bound.value.step(DeviceStatus::Bound, format!("terminal:{}", device.value.tid));
            self.store
                .apply(Change {
                    puts: vec![bound.update()?],
                    audit: vec![audit(
                        &format!("terminal:{}", device.value.tid),
                        "device.bound",
                        Device::KIND,
                        &device.value.tid,
                        "{}",
                    )],
                    ..Change::default()
                })
                .await?;
            let merchant = get::<crate::merchant::Merchant>(&self.store, &device.value.mid, "merchant").await?;
            Ok(Activation {
                mid: device.value.mid.clone(),
                tid: device.value.tid.clone(),
                merchant_name: merchant.value.name.clone(),
                tmk_under_activation_key: hex::encode_upper(kek.wrap(&tmk)),
                tmk_check_value: hex::encode_upper(tmk.check_value()),
                kdf: Kdf {
                    algorithm: "PBKDF2-HMAC-SHA256",
                    iterations,
                    salt: format!("XingTong activation|{}|{serial}", device.value.mid),
                    key_length: 16,
                },
            })
        })
        .await
    }

    /// Provisions a terminal for a merchant directly (staff, CLI): a new TID bound at once, its TMK
    /// returned in clear for key loading.
    pub async fn provision_terminal(
        &self,
        actor: &str,
        mid: &str,
        serial_number: Option<&str>,
        model: Option<&str>,
    ) -> Result<Provisioned> {
        let merchant = get::<Merchant>(&self.store, mid, "merchant").await?;
        let serial = match serial_number {
            Some(serial) => check_serial(serial)?,
            None => format!("XT{:010}", rand::random::<u64>() % 10_000_000_000),
        };
        retrying(|| async {
            let (tid_number, tid_put) = self.take("tid", 10_000_001).await?;
            let tmk = Self::new_tmk();
            let mut device = Device {
                tid: format!("{tid_number:08}"),
                mid: merchant.value.mid.clone(),
                model: model.unwrap_or("XT-P1").into(),
                serial_number: serial.clone(),
                status: DeviceStatus::Ordered,
                activation_code: None,
                activation_failures: 0,
                tmk_under_lmk: Some(hex::encode_upper(self.master_key.wrap(&tmk))),
                tmk_check_value: Some(hex::encode_upper(tmk.check_value())),
                shipping_address: String::new(),
                deposit_minor: xingtong_onboarding::terms::DEVICE_DEPOSIT_MINOR,
                activation_amount_minor: xingtong_onboarding::terms::DEVICE_DEPOSIT_MINOR,
                deposit_refund_volume_minor: xingtong_onboarding::terms::DEPOSIT_REFUND_VOLUME_MINOR,
                deposit_refund_days: xingtong_onboarding::terms::DEPOSIT_REFUND_DAYS,
                tracking_number: None,
                history: Vec::new(),
                suspended_from: None,
            };
            device.step(DeviceStatus::Bound, actor.into());
            self.store
                .apply(Change {
                    puts: vec![insert(&device)?, tid_put],
                    claim_keys: vec![device.serial_key()],
                    audit: vec![audit(
                        actor,
                        "device.provisioned",
                        Device::KIND,
                        &device.tid,
                        &format!("{{\"mid\":\"{mid}\"}}"),
                    )],
                    ..Change::default()
                })
                .await?;
            Ok(Provisioned { mid: device.mid, tid: device.tid, serial_number: device.serial_number, tmk })
        })
        .await
    }

    /// A merchant's devices, for the merchant or staff.
    pub async fn devices(&self, principal: &Principal, mid: &str) -> Result<Vec<Stored<Device>>> {
        principal.may_see_merchant(mid)?;
        list(&self.store, RecordQuery::kind(Device::KIND).owner(mid)).await
    }

    /// One device, for its merchant or staff.
    pub async fn device(&self, principal: &Principal, tid: &str) -> Result<Stored<Device>> {
        let device = get::<Device>(&self.store, tid, "device").await?;
        principal.may_see_merchant(&device.value.mid).map_err(|_| Error::not_found("device"))?;
        Ok(device)
    }

    async fn device_step(
        &self,
        principal: &Principal,
        tid: &str,
        role: Role,
        change: impl Fn(&mut Device) -> Result<(&'static str, Option<Template>)>,
    ) -> Result<Stored<Device>> {
        principal.require(role)?;
        retrying(|| async {
            let mut device = get::<Device>(&self.store, tid, "device").await?;
            let (action, template) = change(&mut device.value)?;
            let mut puts = vec![device.update()?];
            if let Some(template) = template {
                let merchant = get::<Merchant>(&self.store, &device.value.mid, "merchant").await?;
                let owner = get::<User>(&self.store, &merchant.value.owner_user_id, "user").await?;
                puts.extend(notification_to_user(&owner.value, template, &[("tid", tid), ("mid", &device.value.mid)])?);
            }
            self.store
                .apply(Change {
                    puts,
                    audit: vec![audit(&principal.actor(), action, Device::KIND, tid, "{}")],
                    ..Change::default()
                })
                .await?;
            get(&self.store, tid, "device").await
        })
        .await
    }

    /// Staff mark a device shipped (with an optional tracking number); the merchant is told.
    pub async fn ship_device(
        &self,
        principal: &Principal,
        tid: &str,
        tracking: Option<&str>,
    ) -> Result<Stored<Device>> {
        let actor = principal.actor();
        let tracking =
            tracking.map(|t| crate::text::checked("tracking_number", "invalid_tracking_number", t, 64)).transpose()?;
        self.device_step(principal, tid, Role::Admin, |device| {
            if device.status != DeviceStatus::Ordered {
                return Err(Error::invalid_state("only an ordered device can be shipped"));
            }
            device.tracking_number = tracking.clone();
            device.step(DeviceStatus::Shipped, actor.clone());
            Ok(("device.shipped", Some(Template::DeviceShipped)))
        })
        .await
    }

    /// Staff (risk) suspend a device.
    pub async fn suspend_device(&self, principal: &Principal, tid: &str) -> Result<Stored<Device>> {
        let actor = principal.actor();
        self.device_step(principal, tid, Role::Risk, |device| {
            if device.status == DeviceStatus::Suspended {
                return Err(Error::invalid_state("the device is already suspended"));
            }
            device.suspended_from = Some(device.status);
            device.step(DeviceStatus::Suspended, actor.clone());
            Ok(("device.suspended", None))
        })
        .await
    }

    /// Staff (risk) lift a suspension: the device returns to where it was.
    pub async fn resume_device(&self, principal: &Principal, tid: &str) -> Result<Stored<Device>> {
        let actor = principal.actor();
        self.device_step(principal, tid, Role::Risk, |device| {
            let Some(previous) = device.suspended_from.take().filter(|_| device.status == DeviceStatus::Suspended)
            else {
                return Err(Error::invalid_state("the device is not suspended"));
            };
            device.step(previous, actor.clone());
            Ok(("device.resumed", None))
        })
        .await
    }

    /// Staff issue a new activation code (after a lock, or a lost code); only before binding.
    pub async fn reissue_activation_code(&self, principal: &Principal, tid: &str) -> Result<Stored<Device>> {
        self.device_step(principal, tid, Role::Admin, |device| {
            if !matches!(device.status, DeviceStatus::Ordered | DeviceStatus::Shipped) {
                return Err(Error::invalid_state("the device is already bound"));
            }
            device.activation_code = Some(new_activation_code());
            device.activation_failures = 0;
            Ok(("device.activation_code_reissued", None))
        })
        .await
    }

    /// Marks a bound device activated, when an approved card sale reaches its activation amount
    /// (called by card payments). Returns true when the device is activated (by this sale or before).
    pub async fn mark_activated(&self, tid: &str, sale_amount_minor: i64) -> Result<bool> {
        retrying(|| async {
            let mut device = get::<Device>(&self.store, tid, "device").await?;
            if device.value.status == DeviceStatus::Activated {
                return Ok(true);
            }
            if device.value.status != DeviceStatus::Bound || sale_amount_minor < device.value.activation_amount_minor {
                return Ok(false);
            }
            device.value.step(DeviceStatus::Activated, format!("terminal:{tid}"));
            let merchant = get::<Merchant>(&self.store, &device.value.mid, "merchant").await?;
            let owner = get::<User>(&self.store, &merchant.value.owner_user_id, "user").await?;
            let notices = notification_to_user(
                &owner.value,
                Template::DeviceActivated,
                &[("tid", tid), ("mid", &device.value.mid)],
            )?;
            self.store
                .apply(Change {
                    puts: [vec![device.update()?], notices].concat(),
                    audit: vec![audit(
                        &format!("terminal:{tid}"),
                        "device.activated",
                        Device::KIND,
                        tid,
                        &format!("{{\"amount_minor\":{sale_amount_minor}}}"),
                    )],
                    ..Change::default()
                })
                .await?;
            Ok(true)
        })
        .await
    }
}
