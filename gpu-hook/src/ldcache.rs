//! glibc's ld.so.cache, new format ("glibc-ld.so.cache1.1", the only one glibc >= 2.32
//! writes; older caches carry it after the old "ld.so-1.7.0" table). A small reader, not a
//! crate: the two on crates.io (`ld-so-cache` and `ldcache_rs`) each have a single 0.1.0
//! release and no maintenance record, and `ld-so-cache` makes clap, nom and serde_json
//! mandatory dependencies for its command line tool; the layout (glibc's elf/cache.c,
//! `struct cache_file_new`) is fixed and short:
//!
//! ```text
//! header (48 bytes): magic "glibc-ld.so.cache" (17), version "1.1" (3), u32 nlibs,
//!   u32 len_strings, u8 flags, 3 padding, u32 extension_offset, 3 x u32 unused
//! entries (24 bytes each): i32 flags, u32 key, u32 value, u32 osversion, u64 hwcap
//! ```
//!
//! `key` (the soname) and `value` (the path) are offsets of NUL-terminated strings from the
//! start of the new-format header. Integers are in the host's byte order (ldconfig writes
//! the cache for its own machine).

const MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
const HEADER: usize = 48;
const ENTRY: usize = 24;
/// flags & FLAG_TYPE_MASK: an ELF libc6 library.
const FLAG_ELF_LIBC6: i32 = 0x0003;
const FLAG_TYPE_MASK: i32 = 0x00ff;
/// flags & FLAG_ARCH_MASK for x86-64 libraries (i386 ones have 0).
const FLAG_X8664_LIB64: i32 = 0x0300;
const FLAG_ARCH_MASK: i32 = 0xff00;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub flags: i32,
    pub soname: String,
    pub path: String,
}

impl Entry {
    pub fn is_elf_libc6(&self) -> bool {
        self.flags & FLAG_TYPE_MASK == FLAG_ELF_LIBC6
    }
    pub fn is_x86_64(&self) -> bool {
        self.flags & FLAG_ARCH_MASK == FLAG_X8664_LIB64
    }
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn str_at(b: &[u8], at: usize) -> Option<String> {
    let s = b.get(at..)?;
    let end = s.iter().position(|c| *c == 0)?;
    String::from_utf8(s[..end].to_vec()).ok()
}

/// The entries of a cache, in its order (ldconfig sorts them as the loader searches), or
/// `None` if it is not a cache of the new format.
pub fn parse(bytes: &[u8]) -> Option<Vec<Entry>> {
    let start = bytes.windows(MAGIC.len()).position(|w| w == MAGIC)?;
    let b = &bytes[start..];
    let nlibs = u32_at(b, 20)? as usize;
    if HEADER.checked_add(nlibs.checked_mul(ENTRY)?)? > b.len() {
        return None;
    }
    (0..nlibs)
        .map(|i| {
            let e = HEADER + i * ENTRY;
            Some(Entry {
                flags: u32_at(b, e)? as i32,
                soname: str_at(b, u32_at(b, e + 4)? as usize)?,
                path: str_at(b, u32_at(b, e + 8)? as usize)?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cache made by this host's ldconfig from two libraries, one in a directory only
    /// ld.so.conf names.
    #[test]
    fn reads_a_cache_ldconfig_made() {
        let root = std::env::temp_dir().join(format!("gantry-ldcache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for d in ["etc", "usr/lib/x86_64-linux-gnu", "opt/vendor/lib"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        let src = root.join("stub.c");
        std::fs::write(&src, "int stub(void) { return 1; }\n").unwrap();
        for (dir, soname) in [
            ("usr/lib/x86_64-linux-gnu", "libfoo.so.1"),
            ("opt/vendor/lib", "libbar.so.2"),
        ] {
            let ok = std::process::Command::new("gcc")
                .args(["-shared", "-fPIC", "-o"])
                .arg(root.join(dir).join(soname))
                .arg(format!("-Wl,-soname,{soname}"))
                .arg(&src)
                .status()
                .expect("gcc")
                .success();
            assert!(ok);
        }
        std::fs::write(
            root.join("etc/ld.so.conf"),
            "/usr/lib/x86_64-linux-gnu\n/opt/vendor/lib\n",
        )
        .unwrap();
        let ok = std::process::Command::new("/sbin/ldconfig")
            .arg("-X")
            .arg("-r")
            .arg(&root)
            .status()
            .expect("ldconfig")
            .success();
        assert!(ok, "ldconfig -r");
        let bytes = std::fs::read(root.join("etc/ld.so.cache")).unwrap();
        let entries = parse(&bytes).expect("a glibc-ld.so.cache1.1 cache");
        let bar = entries.iter().find(|e| e.soname == "libbar.so.2").unwrap();
        assert_eq!(bar.path, "/opt/vendor/lib/libbar.so.2");
        assert!(bar.is_x86_64() && bar.is_elf_libc6(), "{bar:?}");
        let foo = entries.iter().find(|e| e.soname == "libfoo.so.1").unwrap();
        assert_eq!(foo.path, "/usr/lib/x86_64-linux-gnu/libfoo.so.1");
        assert!(parse(b"not a cache").is_none());
        assert!(parse(&bytes[..40]).is_none(), "a truncated cache");
        let _ = std::fs::remove_dir_all(&root);
    }
}
