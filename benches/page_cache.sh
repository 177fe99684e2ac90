# Sourced by the bench scripts: puts capture files in the page cache the way a capture read
# from disk is there, not the way its writer left it.
#
# A file just written (by `pcdns synth`) sits in the page cache in small pages, as its writes
# made them; read back from disk it is cached in large pages (measured: `cat` after dropping it
# left 3.24 of its 3.27 GB in 2 MiB pages), and pcdns, which maps capture files and asks for
# huge pages, then maps it with one page-table entry per 2 MiB instead of 512. On mix (a) the
# kernel's page-table work was about half of the run with small pages. So each file is flushed,
# dropped from the cache and read back in with cat before it is timed.

# load_into_page_cache FILE...
load_into_page_cache() {
    local file
    for file in "$@"; do
        sync "$file"
        dd if="$file" iflag=nocache count=0 status=none # drops the file's cached pages
        cat "$file" > /dev/null
    done
}
