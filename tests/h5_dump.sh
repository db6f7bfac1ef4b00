# HDF5 files read through h5dump, for the shell tests (CI has no Python). Source it.

# h5_values FILE DATASET: the dataset's elements, one a line, strings without their quotes,
# floats with 17 digits. For datasets whose elements hold no comma (ids, statuses, numbers).
h5_values() {
    h5dump -y -w 0 -m '%.17g' -d "$2" "$1" | sed -n '/^   DATA {$/,/^   }$/p' | sed '1d;$d' |
        tr ',' '\n' | sed 's/^ *"\{0,1\}//; s/"\{0,1\} *$//' | grep -v '^$'
}

# h5_attr FILE ATTR: a scalar string attribute of the file's root group.
h5_attr() {
    h5dump -a "/$2" "$1" | sed -n 's/^ *(0): "\(.*\)"$/\1/p'
}

# h5_texts FILE DATASET: a string dataset's elements, one a line, without their quotes. For
# texts that may hold commas, though not the sequence `", "` (h5dump's separator).
h5_texts() {
    h5dump -y -w 0 -d "$2" "$1" | sed -n '/^   DATA {$/,/^   }$/p' | sed '1d;$d' |
        sed 's/^ *"//; s/" *$//; s/", "/\n/g'
}
