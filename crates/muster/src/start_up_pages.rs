//! Start-up runs code that never runs again: the command line, the configuration's parser and
//! checks, migrations, compiling templates and policies. The kernel keeps every page of the
//! executable that start-up touched resident, and maps 64 KB around each one, so an idle
//! server's RSS was mostly code it had finished with (BENCHMARKS.md, "Idle RSS").
//!
//! Once the server is ready to listen, the executable's read-only mappings (code and constants)
//! are handed back with `MADV_PAGEOUT`: the kernel reclaims the pages no other process maps,
//! and whatever runs again is faulted back in from the file. Unlike `MADV_DONTNEED`, pageout
//! never changes what a page holds, so it is safe on any mapping; its only cost is a page-in
//! for code that runs again. Writable mappings (data, relocated pointers) are left alone.

use std::path::Path;

/// Hands this process's read-only mappings of its own executable back to the kernel; the
/// bytes advised.
#[cfg(target_os = "linux")]
pub fn release() -> std::io::Result<usize> {
    let exe = std::fs::read_link("/proc/self/exe")?;
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    let mut advised = 0;
    for (start, len) in read_only_mappings(&maps, &exe) {
        // SAFETY: `start..start + len` is one of this process's mappings, read from
        // /proc/self/maps just now; an executable's own mappings stay mapped while it runs.
        // MADV_PAGEOUT only reclaims: every page keeps its contents (a later access faults it
        // back in), so no reference into the range is invalidated and no memory is written.
        let rc = unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_PAGEOUT) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        advised += len;
    }
    Ok(advised)
}

#[cfg(not(target_os = "linux"))]
pub fn release() -> std::io::Result<usize> {
    Ok(0)
}

/// The (start, length) of each mapping of `exe` in `maps` (the text of /proc/PID/maps) that is
/// readable and not writable.
fn read_only_mappings(maps: &str, exe: &Path) -> Vec<(usize, usize)> {
    maps.lines()
        .filter_map(|line| {
            let (range, rest) = line.split_once(' ')?;
            let perms = rest.get(..4)?;
            if !perms.starts_with('r') || perms.as_bytes()[1] == b'w' {
                return None;
            }
            // After the permissions: offset, device, inode, then the path (which may hold
            // spaces, and ends in " (deleted)" once the file was replaced on disk).
            let path = rest.splitn(5, ' ').nth(4)?.trim_start();
            let path = path.strip_suffix(" (deleted)").unwrap_or(path);
            if Path::new(path) != exe {
                return None;
            }
            let (start, end) = range.split_once('-')?;
            let start = usize::from_str_radix(start, 16).ok()?;
            let end = usize::from_str_radix(end, 16).ok()?;
            Some((start, end.checked_sub(start)?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAPS: &str = "\
55e065a98000-55e0663aa000 r--p 00000000 08:01 1234                       /usr/bin/muster
55e0663aa000-55e06848f000 r-xp 00912000 08:01 1234                       /usr/bin/muster
55e06848f000-55e06853f000 r--p 029f7000 08:01 1234                       /usr/bin/muster
55e06853f000-55e06854a000 rw-p 02aa7000 08:01 1234                       /usr/bin/muster
55e06854a000-55e06854b000 rw-p 00000000 00:00 0 
55e06a000000-55e06a021000 rw-p 00000000 00:00 0                          [heap]
7f1c2d400000-7f1c2d428000 r--p 00000000 08:01 99                         /usr/lib/x86_64-linux-gnu/libc.so.6
7f1c2d428000-7f1c2d5bd000 r-xp 00028000 08:01 99                         /usr/lib/x86_64-linux-gnu/libc.so.6
7ffc1d7e0000-7ffc1d801000 rw-p 00000000 00:00 0                          [stack]
";

    #[test]
    fn only_the_executables_read_only_mappings_are_chosen() {
        let chosen = read_only_mappings(MAPS, Path::new("/usr/bin/muster"));
        assert_eq!(
            chosen,
            vec![
                (0x55e065a98000, 0x55e0663aa000 - 0x55e065a98000),
                (0x55e0663aa000, 0x55e06848f000 - 0x55e0663aa000),
                (0x55e06848f000, 0x55e06853f000 - 0x55e06848f000),
            ]
        );
    }

    #[test]
    fn a_replaced_executable_and_a_path_with_spaces_are_still_recognised() {
        let maps = "\
1000-3000 r-xp 00000000 08:01 7                          /opt/my tools/muster (deleted)
3000-4000 rw-p 00002000 08:01 7                          /opt/my tools/muster (deleted)
";
        let chosen = read_only_mappings(maps, Path::new("/opt/my tools/muster"));
        assert_eq!(chosen, vec![(0x1000, 0x2000)]);
        assert!(read_only_mappings(maps, Path::new("/opt/my")).is_empty());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_kernel_takes_the_advice_for_every_read_only_mapping_of_this_executable() {
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let expected: usize = read_only_mappings(&maps, &exe).iter().map(|m| m.1).sum();
        // Code and constants at least: a parser that found nothing would advise nothing.
        assert!(
            expected > 0,
            "no read-only mapping of {} found",
            exe.display()
        );
        // An unaligned start, a wrong length or an advice the kernel does not know is an
        // error, not a count.
        assert_eq!(release().unwrap(), expected);
    }
}
