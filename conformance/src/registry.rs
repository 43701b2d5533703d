//! Every check, grouped by spec area, in the order they are reported.

use crate::check::Check;
use crate::checks::*;

pub fn all() -> Vec<Check> {
    [
        lifecycle::checks(),
        state::checks(),
        process::checks(),
        capabilities::checks(),
        root_mounts::checks(),
        mount_attrs::checks(),
        namespaces::checks(),
        devices::checks(),
        linux_paths::checks(),
        cgroups::checks(),
        resources::checks(),
        hooks::checks(),
        misc::checks(),
        seccomp::checks(),
        spec13::checks(),
        validity::checks(),
    ]
    .concat()
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_unique_and_dotted() {
        let all = super::all();
        let mut names: Vec<_> = all.iter().map(|c| c.name).collect();
        names.sort();
        let n = names.len();
        names.dedup();
        assert_eq!(names.len(), n, "duplicate check names");
        for c in &all {
            assert!(
                c.name.starts_with("runtime") || c.name.starts_with("config"),
                "{}",
                c.name
            );
            assert!(c.spec.contains(".md"), "{}: {}", c.name, c.spec);
        }
    }
}
