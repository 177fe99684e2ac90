# Sourced by the bench scripts: puts capture files in the page cache the way a capture read
# from disk is there, not the way the writer left it.
#
# A file just written (by `pcdns synth`) sits in the page cache in small pages, as its writes
# made them; a file read from disk is cached in large pages, and pcdns, which maps capture files
# and asks for huge pages, then maps it with one page-table entry per 2 MiB instead of 512 (on
# mix (a) the kernel's page-table work was half the run with small pages). So each file is
# flushed, dropped from the cache and read back in: by one pcdns run (WARM=pcdns, the default:
# the cache as a user's first analysis of a capture leaves it) or by cat (WARM=cat).

# load_into_page_cache PCDNS FILE...
load_into_page_cache() {
    local pcdns=$1 file
    shift
    for file in "$@"; do
        sync "$file"
        dd if="$file" iflag=nocache count=0 status=none # drops the file's cached pages
        case ${WARM:-pcdns} in
            pcdns) "$pcdns" analyze "$file" --format json > /dev/null 2>&1 || true ;;
            cat) cat "$file" > /dev/null ;;
            *) echo "WARM must be pcdns or cat" >&2; return 2 ;;
        esac
    done
}
