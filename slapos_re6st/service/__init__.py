"""How the partition's services run:

  launcher  re6st-service: runs one service, restarting it when its
            wrapper or configuration changed, dying with its supervisor
  registry  re6st-registry-service: re6st-registry with the release's
            changes (lib.re6st_adapter), its first certificate the host
            node's
"""
