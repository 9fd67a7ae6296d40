"""`make run` and `make stop`: the release on slapos.core's embedded SlapOS.

run:  start the embedded SlapOS if needed, supply this checkout's
      software.cfg, request the default instance with PARAMS, wait until it
      is usable and print its connection parameters as one JSON object on the
      last line.
stop: stop everything `run` started; the data (CA, database) is kept.
"""
import argparse
import json
import logging
import os
import sys
import time

from slapos.slap.standalone import (
    SlapOSNodeCommandError, StandaloneSlapOS)

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOFTWARE = os.path.join(HERE, 'software.cfg')
INSTANCE_REFERENCE = 're6st-registry'
IPV4 = '127.0.0.1'
IPV6 = '::1'


def log(message):
    print(message, file=sys.stderr, flush=True)


def standalone(base):
    os.makedirs(base, exist_ok=True)
    return StandaloneSlapOS(
        base_directory=base,
        server_ip=IPV4,
        server_port=int(os.environ.get('SLAPOS_PROXY_PORT', 19380)),
        slapos_bin=os.path.join(os.path.dirname(sys.executable), 'slapos'),
    )


def parse_params(text):
    try:
        params = json.loads(text or '{}')
    except ValueError as e:
        raise SystemExit('PARAMS is not valid JSON (%s): give one JSON object,'
                         ' e.g. PARAMS=\'{"prefix-length": 20}\'.' % e)
    if not isinstance(params, dict):
        raise SystemExit('PARAMS must be one JSON object, not %s.'
                         % type(params).__name__)
    return params


def buildout_error(error):
    """The buildout error sentences in a failed slapos node run's output."""
    lines = str(error).splitlines()
    for i, line in enumerate(lines):
        if line.startswith('Error: '):
            found = [line[len('Error: '):]]
            for next_line in lines[i + 1:]:
                if not next_line.strip() or next_line.startswith(
                        ('While:', 'An internal error', 'Traceback')):
                    break
                found.append(next_line)
            return '\n'.join(found)
    return str(error)


def connection_parameters(slap, params):
    partition = slap.request(
        SOFTWARE, INSTANCE_REFERENCE, 'default',
        partition_parameter_kw={'_': json.dumps(params, sort_keys=True)})
    raw = partition.getConnectionParameterDict()
    return json.loads(raw['_']) if '_' in raw else raw


def run(base, params):
    slap = standalone(base)
    timing = {}
    t = time.time()
    slap.start()
    if not os.listdir(slap.instance_directory):
        slap.format(1, IPV4, IPV6)
    timing['start'] = time.time() - t
    t = time.time()
    log('Building the software release (slapos node software)...')
    slap.supply(SOFTWARE)
    try:
        # --all: rebuild even if built before, so a changed checkout is
        # taken (buildout itself only redoes what changed).
        slap.waitForSoftware(max_retry=2, error_lines=60, install_all=True)
    except SlapOSNodeCommandError as e:
        raise SystemExit('The software release failed to build:\n%s'
                         % buildout_error(e))
    timing['supply'] = time.time() - t
    t = time.time()
    log('Deploying the registry (slapos node instance)...')
    connection_parameters(slap, params)
    try:
        slap.waitForInstance(max_retry=10, error_lines=60)
    except SlapOSNodeCommandError as e:
        raise SystemExit('The instance failed:\n%s' % buildout_error(e))
    timing['instance'] = time.time() - t
    log('Timing (s): %s' % json.dumps(
        {k: round(v, 1) for k, v in timing.items()}))
    print(json.dumps(connection_parameters(slap, params), sort_keys=True))


def running(base):
    """Whether the embedded SlapOS's supervisord runs (without starting
    it, as constructing StandaloneSlapOS does)."""
    try:
        with open(os.path.join(base, 'var', 'run', 'supervisord.pid')) as f:
            os.kill(int(f.read().strip()), 0)
    except (OSError, ValueError):
        return False
    return True


def stop(base, quiet=False):
    if not running(base):
        if not quiet:
            log('The embedded SlapOS is not running here: nothing to stop.')
        return
    log('Stopping the embedded SlapOS of `make run` (data kept in %s;'
        ' `make run` brings it back).' % base)
    standalone(base).stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('command', choices=('run', 'stop'))
    parser.add_argument('--base', required=True,
                        help='directory of the embedded SlapOS')
    parser.add_argument('--params', default='{}',
                        help='instance parameters, one JSON object')
    parser.add_argument('--quiet', action='store_true',
                        help='say nothing when there is nothing to do')
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    base = os.path.abspath(args.base)
    if args.command == 'run':
        run(base, parse_params(args.params))
    else:
        stop(base, args.quiet)


if __name__ == '__main__':
    main()
