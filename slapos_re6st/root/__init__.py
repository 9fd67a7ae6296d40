"""What the host's root runs, copied once out of the software release and
never run from it (the partition's user, or the software's, may write
there): standard library only, Python >= 3.9.

  re6st_host_node  re6st-host-node install PARTITION: the registry's own
                   node installed where only root writes, from what the
                   partition published, read as data and checked
"""
