//! A registry's place in the DTSEN chain: a province's (Dinas Sosial provinsi) or a kabupaten/kota's, and
//! the region it takes families of. Both are in its public `registry.pub` (so a province enrolling a
//! kabupaten registry learns its region from the same file), made at `registry init --level … --wilayah
//! …`. A registry made before levels is a province taking any region. Pure: no storage.

use crate::bundle::keys::{Level, RegistryPub};
use crate::form::catalog::Catalog;

use super::entries::Reason;
use super::facts::Facts;

/// Checks that `wilayah` is a region of `level` the built-in household form knows (`64.72` a
/// kabupaten/kota of its list, `64` the province its regions are in), and returns its name.
pub fn check_wilayah(level: Level, wilayah: &str) -> Result<String, String> {
    let form = Catalog::shared()?
        .latest(crate::model::household::FORM_ID)
        .ok_or_else(|| "the built-in household form is missing".to_string())?;
    let list = form
        .field(super::facts::KABKOTA)
        .and_then(|f| form.choices_of(f))
        .map(|l| l.choices.as_slice())
        .unwrap_or_default();
    match level {
        Level::Kabupaten => list
            .iter()
            .find(|c| c.value == wilayah)
            .map(|c| c.label.id.clone())
            .ok_or_else(|| {
                let known: Vec<String> = list
                    .iter()
                    .map(|c| format!("{} {}", c.value, c.label.id))
                    .collect();
                format!(
                    "`{wilayah}` is not a kabupaten/kota code of the regions this program knows; one of: {}",
                    known.join(", ")
                )
            }),
        Level::Provinsi => {
            let inside = wilayah.len() == 2
                && wilayah.bytes().all(|b| b.is_ascii_digit())
                && list.iter().any(|c| c.value.starts_with(&format!("{wilayah}.")));
            if inside {
                Ok(format!("provinsi {wilayah}"))
            } else {
                let provinces: std::collections::BTreeSet<&str> =
                    list.iter().filter_map(|c| c.value.split('.').next()).collect();
                Err(format!(
                    "`{wilayah}` is not a province code of the regions this program knows ({})",
                    provinces.into_iter().collect::<Vec<_>>().join(", ")
                ))
            }
        }
    }
}

/// Why a family's revision is outside the registry's region, if it is: a kabupaten registry takes only
/// families of its kabupaten/kota, a province's only those of its province. A revision whose region is
/// unknown is left to validation (a final one without a region fails it already).
pub fn outside(public: &RegistryPub, facts: Option<&Facts>) -> Option<Reason> {
    let wilayah = public.wilayah.as_deref()?;
    let kabkota = facts?.kabkota.as_deref()?;
    let within = match public.level {
        Level::Kabupaten => kabkota == wilayah,
        Level::Provinsi => kabkota.starts_with(&format!("{wilayah}.")),
    };
    (!within).then(|| {
        Reason::new(
            "outside_wilayah",
            "",
            format!(
                "keluarga di luar wilayah registri ini ({} {wilayah}): kabupaten/kotanya {kabkota}",
                public.level.word()
            ),
            format!(
                "a family outside this registry's region ({} {wilayah}): its kabupaten/kota is {kabkota}",
                public.level.word()
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(level: Level, wilayah: Option<&str>) -> RegistryPub {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let age = age::x25519::Identity::generate().to_public();
        RegistryPub {
            level,
            wilayah: wilayah.map(str::to_string),
            ..RegistryPub::new(
                "Uji",
                chrono::DateTime::parse_from_rfc3339("2026-12-03T10:00:00+08:00").unwrap(),
                &[age],
                &key.verifying_key(),
            )
        }
    }

    fn facts(kabkota: &str) -> Facts {
        Facts {
            kabkota: Some(kabkota.into()),
            ..Facts::default()
        }
    }

    #[test]
    fn a_kabupaten_takes_its_own_families_only() {
        let samarinda = registry(Level::Kabupaten, Some("64.72"));
        assert!(outside(&samarinda, Some(&facts("64.72"))).is_none());
        let why = outside(&samarinda, Some(&facts("64.02"))).unwrap();
        assert_eq!(why.code, "outside_wilayah");
        assert!(why.message.en.contains("64.02") && why.message.id.contains("64.72"));
        // Unknown region: validation's business.
        assert!(outside(&samarinda, None).is_none());
        assert!(outside(&samarinda, Some(&Facts::default())).is_none());
    }

    #[test]
    fn a_province_takes_its_kabupaten_and_an_old_registry_everything() {
        let kaltim = registry(Level::Provinsi, Some("64"));
        assert!(outside(&kaltim, Some(&facts("64.02"))).is_none());
        assert!(outside(&kaltim, Some(&facts("65.01"))).is_some());
        // "640" is no prefix of "64.": the dot is part of the check.
        assert!(outside(&registry(Level::Provinsi, Some("6")), Some(&facts("64.02"))).is_some());
        let old = registry(Level::Provinsi, None);
        assert!(outside(&old, Some(&facts("65.01"))).is_none());
    }

    #[test]
    fn wilayah_codes_are_checked_against_the_region_list() {
        assert_eq!(
            check_wilayah(Level::Kabupaten, "64.72").unwrap(),
            "Kota Samarinda"
        );
        assert!(check_wilayah(Level::Kabupaten, "64").is_err());
        assert!(check_wilayah(Level::Kabupaten, "64.99").is_err());
        assert!(check_wilayah(Level::Provinsi, "64").is_ok());
        assert!(check_wilayah(Level::Provinsi, "65").is_err());
        assert!(check_wilayah(Level::Provinsi, "64.72").is_err());
    }
}
