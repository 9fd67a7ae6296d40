"""How the partition's services run:

  launcher  re6st-service: runs one service, restarting it when its
            wrapper or configuration changed, dying with its supervisor
  registry  re6st-registry-service: re6st-registry with what 0.642 lacks
            against an outsider (short failure logs, no tokens logged,
            idle connections closed)
"""
