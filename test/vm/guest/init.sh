#!/bin/busybox sh
# PID 1 of the secure-mode test VM (test/vm/). Runs the scenario four times, each between
# "PHASE <name>" and "PHASE-END <name>" on the serial console, then powers off:
#   control  no BPF program at all: every attack must work (else the test proves nothing)
#   cgroup   the cgroup half only (slim-loader without the LSM object): what a kernel without
#            the BPF LSM gets
#   lsm      the LSM half only (lsm-load)
#   secure   secure mode as the daemon loads it: slim-loader with both objects
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t securityfs securityfs /sys/kernel/security
mount -t bpf bpf /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup
ip link set lo up
ip addr add 10.250.0.1/32 dev lo # the host's "underlay" address

CG=/sys/fs/cgroup/slimd # the Slim daemon's cgroup: the router runs there
PIN=/sys/fs/bpf/slim
mkdir -p $CG
echo "SLIM-VM kernel $(uname -r) lsm $(cat /sys/kernel/security/lsm) cpus $(nproc) net" $(ls /sys/class/net)

phase() { # name, then the command that loads secure mode (or "true")
  name=$1
  shift
  echo "PHASE $name"
  if timeout 60 "$@"; then
    if [ "$name" = control ]; then timeout 60 /slim/scenario $CG; else timeout 60 /slim/scenario $CG $PIN; fi
  else
    echo "LOAD-FAILED $name"
  fi
  timeout 30 /slim/slim-loader unload --pin $PIN >/dev/null
  echo "PHASE-END $name"
}

phase control true
phase cgroup /slim/slim-loader load --cgroup $CG --objects /slim/objects-cgroup --pin $PIN
phase lsm /slim/lsm-load /slim/objects/slim_lsm.bpf.o $CG $PIN
phase secure /slim/slim-loader load --cgroup $CG --objects /slim/objects --pin $PIN

echo "SLIM-VM done"
poweroff -f
