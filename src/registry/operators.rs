//! Who works on the registry: operators (a name, a role, a passphrase kept only as an argon2id hash),
//! the session a command or screen runs in (who is signed in, the reason given), the rule of who may
//! decide what, and the audit trail every decision and import appends to in its own transaction.
//!
//! Until the first operator is added, the registry records the computer's account that ran the command
//! (the caller names it); from then on, every decision needs a signed-in operator. Adding and disabling
//! operators, revoking devices and discarding a revoked device's bundles need a supervisor.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use chrono::{DateTime, FixedOffset};

use super::entries::{Actor, AuditEntry, OperatorEntry, Role};
use super::storage::{Storage, Tables, Transaction};
use super::{Registry, RegistryError, Result};
use crate::model::printable::clean;

/// The shortest passphrase accepted.
pub const MIN_PASSPHRASE: usize = 8;
/// The longest operator name.
pub const MAX_NAME: usize = 64;

/// Who works through this `Registry` value, and why (set by the face: the CLI from `--operator` and
/// `--reason`, the office screens at sign-in and with each decision).
#[derive(Debug, Clone, Default)]
pub struct Session {
    /// The signed-in operator (from [`Registry::sign_in`]), or the computer's account while the registry
    /// has no operators. `None`: an unnamed account (tests, benchmarks).
    pub actor: Option<Actor>,
    /// The reason recorded with the decisions made.
    pub reason: Option<String>,
}

fn refused(id: impl std::fmt::Display, en: impl std::fmt::Display) -> RegistryError {
    RegistryError::Operator(format!("{en} / {id}"))
}

/// Who may act, given who is signed in, that operator's stored entry and whether the registry has any.
fn judge(
    actor: Option<&Actor>,
    stored: Option<OperatorEntry>,
    any_operators: bool,
    need: Role,
) -> Result<Actor> {
    match actor {
        Some(Actor::Operator { name, .. }) => {
            let o = stored.filter(|o| o.enabled).ok_or_else(|| {
                refused(
                    format!("operator {name} tidak (lagi) aktif"),
                    format!("operator {name} is not (or no longer) enabled"),
                )
            })?;
            if need == Role::Supervisor && o.role != Role::Supervisor {
                return Err(refused(
                    format!("hanya supervisor yang boleh melakukan ini; {name} adalah operator"),
                    format!("only a supervisor may do this; {name} is an operator"),
                ));
            }
            Ok(Actor::Operator {
                name: o.name,
                role: o.role,
            })
        }
        _ if any_operators => Err(refused(
            "registri ini memiliki operator: masuk dengan --operator NAMA (kata sandi dari stdin atau PENDATA_OPERATOR_PASSPHRASE)",
            "this registry has operators: sign in with --operator NAME (the passphrase on stdin or in PENDATA_OPERATOR_PASSPHRASE)",
        )),
        other => Ok(other.cloned().unwrap_or(Actor::Account {
            name: "unknown".into(),
        })),
    }
}

fn hash(passphrase: &str) -> Result<String> {
    Ok(Argon2::default()
        .hash_password(passphrase.as_bytes())
        .map_err(|e| RegistryError::Invalid(format!("cannot hash the passphrase: {e}")))?
        .to_string())
}

fn check_new(name: &str, passphrase: &str) -> Result<()> {
    if name.is_empty() || name.chars().count() > MAX_NAME || clean(name) != name {
        return Err(RegistryError::Invalid(format!(
            "an operator's name is 1 to {MAX_NAME} printable characters / nama operator 1–{MAX_NAME} karakter"
        )));
    }
    if passphrase.chars().count() < MIN_PASSPHRASE {
        return Err(RegistryError::Invalid(format!(
            "the passphrase needs at least {MIN_PASSPHRASE} characters / kata sandi minimal {MIN_PASSPHRASE} karakter"
        )));
    }
    Ok(())
}

impl<S: Storage> Registry<S> {
    /// Every operator, by name.
    pub fn operators(&self) -> Result<Vec<OperatorEntry>> {
        self.db.operators()
    }

    /// Checks an operator's passphrase: the actor to put in the session.
    pub fn sign_in(&self, name: &str, passphrase: &str) -> Result<Actor> {
        let wrong = || {
            refused(
                format!("nama operator atau kata sandi salah ({name})"),
                format!("wrong operator name or passphrase ({name})"),
            )
        };
        let o = self
            .operators()?
            .into_iter()
            .find(|o| o.name == name.trim())
            .ok_or_else(wrong)?;
        Argon2::default()
            .verify_password(passphrase.as_bytes(), o.passphrase_hash.as_str())
            .map_err(|_| wrong())?;
        judge(
            Some(&Actor::Operator {
                name: o.name.clone(),
                role: o.role,
            }),
            Some(o),
            true,
            Role::Operator,
        )
    }

    /// Whether the session may do what needs `need`, checked before any work starts (an import, a
    /// package file); the decision checks again in its transaction.
    pub fn check_allowed(&self, need: Role) -> Result<Actor> {
        let ops = self.operators()?;
        let stored = match &self.session.actor {
            Some(Actor::Operator { name, .. }) => ops.iter().find(|o| &o.name == name).cloned(),
            _ => None,
        };
        judge(self.session.actor.as_ref(), stored, !ops.is_empty(), need)
    }

    /// Who acts in this transaction (refused as [`Self::check_allowed`] says).
    pub(crate) fn authorize(&self, t: &impl Tables, need: Role) -> Result<Actor> {
        let stored = match &self.session.actor {
            Some(Actor::Operator { name, .. }) => t.operator(name)?,
            _ => None,
        };
        judge(
            self.session.actor.as_ref(),
            stored,
            t.has_operators()?,
            need,
        )
    }

    /// Appends a line to the audit trail in the caller's transaction, with the session's reason.
    pub(crate) fn audit_in(
        &self,
        t: &mut impl Tables,
        actor: &Actor,
        at: DateTime<FixedOffset>,
        action: &str,
        objects: Vec<String>,
        detail: Option<String>,
    ) -> Result<u64> {
        t.add_audit(&AuditEntry {
            number: 0,
            at,
            actor: actor.clone(),
            action: action.to_string(),
            objects,
            reason: self.session.reason.clone(),
            detail,
        })
    }

    /// An audit line in a transaction of its own, after checking the session may act (an import run,
    /// whose bundles were merged in transactions of their own).
    pub fn record(
        &self,
        need: Role,
        at: DateTime<FixedOffset>,
        action: &str,
        objects: Vec<String>,
        detail: Option<String>,
    ) -> Result<u64> {
        let txn = self.db.begin()?;
        let n = {
            let mut t = txn.tables()?;
            let actor = self.authorize(&t, need)?;
            self.audit_in(&mut t, &actor, at, action, objects, detail)?
        };
        txn.commit()?;
        Ok(n)
    }

    /// Adds an operator. The first one must be a supervisor (someone has to be able to add the others)
    /// and is added by the computer's account; later ones by a signed-in supervisor.
    pub fn add_operator(
        &self,
        name: &str,
        role: Role,
        passphrase: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<OperatorEntry> {
        let name = name.trim();
        check_new(name, passphrase)?;
        let passphrase_hash = hash(passphrase)?;
        let txn = self.db.begin()?;
        let o = {
            let mut t = txn.tables()?;
            let actor = self.authorize(&t, Role::Supervisor)?;
            if !t.has_operators()? && role != Role::Supervisor {
                return Err(refused(
                    "operator pertama harus supervisor (--role supervisor), agar ada yang dapat menambah operator lain",
                    "the first operator must be a supervisor (--role supervisor), so that someone can add the others",
                ));
            }
            if t.operator(name)?.is_some() {
                return Err(refused(
                    format!("operator {name} sudah ada"),
                    format!("operator {name} already exists"),
                ));
            }
            let o = OperatorEntry {
                name: name.to_string(),
                role,
                passphrase_hash,
                enabled: true,
                created_at: now,
                changed_at: now,
            };
            t.put_operator(&o)?;
            let objects = vec![format!("operator:{name}")];
            let detail = Some(format!("role {}", role.as_str()));
            self.audit_in(&mut t, &actor, now, "operator.add", objects, detail)?;
            o
        };
        txn.commit()?;
        Ok(o)
    }

    /// Disables an operator (kept, for the audit trail, but can no longer sign in). The last enabled
    /// supervisor stays.
    pub fn disable_operator(
        &self,
        name: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<OperatorEntry> {
        let name = name.trim();
        let others_supervising = self
            .operators()?
            .iter()
            .any(|o| o.name != name && o.enabled && o.role == Role::Supervisor);
        let txn = self.db.begin()?;
        let o = {
            let mut t = txn.tables()?;
            let actor = self.authorize(&t, Role::Supervisor)?;
            let Some(mut o) = t.operator(name)? else {
                return Err(RegistryError::Invalid(format!(
                    "no operator {name} (see `pendata registry operator DIR list`)"
                )));
            };
            if o.role == Role::Supervisor && !others_supervising {
                return Err(refused(
                    format!(
                        "{name} adalah supervisor aktif terakhir; tambahkan supervisor lain dulu"
                    ),
                    format!("{name} is the last enabled supervisor; add another supervisor first"),
                ));
            }
            o.enabled = false;
            o.changed_at = now;
            t.put_operator(&o)?;
            let objects = vec![format!("operator:{name}")];
            self.audit_in(&mut t, &actor, now, "operator.disable", objects, None)?;
            o
        };
        txn.commit()?;
        Ok(o)
    }

    /// The audit trail, oldest first; `since`: only entries at or after that time.
    pub fn audit_log(&self, since: Option<DateTime<FixedOffset>>) -> Result<Vec<AuditEntry>> {
        let mut all = self.db.audit()?;
        if let Some(since) = since {
            all.retain(|e| e.at >= since);
        }
        Ok(all)
    }
}
