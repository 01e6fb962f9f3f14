/* Tries each system call the sandbox must refuse and prints "name errno" per line (0 = it
   succeeded, SIGn = the call killed the process). Each try runs in a child of its own, so a kill
   (or a success that changes the process) touches nothing else. Built by test_sandbox_escape.py. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static char params[256]; /* io_uring_params and other structs: zeroed */

static long x32_getpid(void) { return syscall(0x40000000L | SYS_getpid); }
static long int80_getpid(void) { /* the i386 ABI: getpid is 20 there */
  long ret;
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory");
  if (ret < 0 && ret > -4096) { errno = (int)-ret; return -1; }
  return ret;
}


static pid_t parent;

static void try_one(const char *name, long (*fn)(void)) {
  int p[2];
  if (pipe(p) != 0) return;
  pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    errno = 0;
    long rc = fn();
    int e = rc == -1 ? errno : 0;
    (void)!write(p[1], &e, sizeof e);
    _exit(0);
  }
  close(p[1]);
  int e = -1, st = 0;
  ssize_t n = read(p[0], &e, sizeof e);
  close(p[0]);
  waitpid(pid, &st, 0);
  if (n == (ssize_t)sizeof e) printf("%s %s\n", name, e ? strerrorname_np(e) : "0");
  else if (WIFSIGNALED(st)) printf("%s SIG%d\n", name, WTERMSIG(st));
  else printf("%s ?\n", name);
}

static long c_io_uring_setup(void) { return (long)(syscall(425, 4, params)); }
static long c_io_uring_enter(void) { return (long)(syscall(426, 0, 0, 0, 0, NULL, 0)); }
static long c_io_uring_register(void) { return (long)(syscall(427, 0, 0, NULL, 0)); }
static long c_userfaultfd(void) { return (long)(syscall(SYS_userfaultfd, 0)); }
static long c_bpf(void) { return (long)(syscall(SYS_bpf, 0, params, 48)); }
static long c_perf_event_open(void) { return (long)(syscall(SYS_perf_event_open, params, 0, -1, -1, 0)); }
static long c_keyctl(void) { return (long)(syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0)); }
static long c_add_key(void) { return (long)(syscall(SYS_add_key, "user", "atrium", "x", 1, -3)); }
static long c_request_key(void) { return (long)(syscall(SYS_request_key, "user", "atrium", NULL, -3)); }
static long c_kexec_load(void) { return (long)(syscall(SYS_kexec_load, 0, 0, NULL, 0)); }
static long c_kexec_file_load(void) { return (long)(syscall(SYS_kexec_file_load, -1, -1, 0, "", 0)); }
static long c_init_module(void) { return (long)(syscall(SYS_init_module, params, 16, "")); }
static long c_finit_module(void) { return (long)(syscall(SYS_finit_module, 0, "", 0)); }
static long c_delete_module(void) { return (long)(syscall(SYS_delete_module, "atrium", 0)); }
static long c_mount(void) { return (long)(syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, NULL)); }
static long c_umount2(void) { return (long)(syscall(SYS_umount2, "/tmp", 0)); }
static long c_pivot_root(void) { return (long)(syscall(SYS_pivot_root, "/tmp", "/tmp")); }
static long c_move_mount(void) { return (long)(syscall(429, -1, "", -1, "/tmp", 0)); }
static long c_open_tree(void) { return (long)(syscall(428, -100, "/tmp", 1 /* OPEN_TREE_CLONE */)); }
static long c_fsopen(void) { return (long)(syscall(430, "tmpfs", 0)); }
static long c_fsconfig(void) { return (long)(syscall(431, -1, 0, NULL, NULL, 0)); }
static long c_fsmount(void) { return (long)(syscall(432, -1, 0, 0)); }
static long c_unshare_user(void) { return (long)(syscall(SYS_unshare, CLONE_NEWUSER)); }
static long c_unshare_net(void) { return (long)(syscall(SYS_unshare, CLONE_NEWNET)); }
static long c_setns(void) { return (long)(syscall(SYS_setns, 0, 0)); }
static long c_clone_newuser(void) { return (long)(syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0)); }
static long c_clone_newns(void) { return (long)(syscall(SYS_clone, CLONE_NEWNS | SIGCHLD, 0, 0, 0, 0)); }
static long c_clone3(void) { return (long)(syscall(435, params, 88)); }
static long c_ptrace_attach_parent(void) { return (long)(ptrace(PTRACE_ATTACH, parent, 0, 0)); }
static long c_process_vm_readv(void) { return (long)(syscall(SYS_process_vm_readv, parent, NULL, 0, NULL, 0, 0)); }
static long c_personality_no_aslr(void) { return (long)(syscall(SYS_personality, ADDR_NO_RANDOMIZE)); }
static long c_personality_read_implies_exec(void) { return (long)(syscall(SYS_personality, READ_IMPLIES_EXEC)); }
static long c_modify_ldt(void) { return (long)(syscall(SYS_modify_ldt, 0, params, 16)); }
static long c_acct(void) { return (long)(syscall(SYS_acct, NULL)); }
static long c_swapon(void) { return (long)(syscall(SYS_swapon, "/tmp/none", 0)); }
static long c_swapoff(void) { return (long)(syscall(SYS_swapoff, "/tmp/none")); }
static long c_reboot(void) { return (long)(syscall(SYS_reboot, 0, 0, 0, NULL)); }
static long c_settimeofday(void) { return (long)(syscall(SYS_settimeofday, NULL, NULL)); }
static long c_clock_settime(void) { return (long)(syscall(SYS_clock_settime, 0, params)); }
static long c_sethostname(void) { return (long)(syscall(SYS_sethostname, "x", 1)); }
static long c_socket_af_alg(void) { return (long)(syscall(SYS_socket, 38 /* AF_ALG */, SOCK_SEQPACKET, 0)); }
static long c_socket_af_vsock(void) { return (long)(syscall(SYS_socket, 40 /* AF_VSOCK */, SOCK_STREAM, 0)); }
static long c_ioctl_tiocsti(void) { return (long)(syscall(SYS_ioctl, 0, TIOCSTI, "x")); }
static long c_unknown_syscall(void) { return (long)(syscall(1000)); }
static long c_x32_abi(void) { return (long)(x32_getpid()); }
static long c_i386_abi(void) { return (long)(int80_getpid()); }
static long c_fork(void) {
  pid_t c = fork();
  if (c == 0) _exit(0);
  return c > 0 && waitpid(c, NULL, 0) == c ? 0 : -1;
}
static long c_personality_query(void) { return (long)(syscall(SYS_personality, 0xffffffffUL)); }
static long c_socket_inet(void) { return (long)(syscall(SYS_socket, AF_INET, SOCK_STREAM, 0)); }

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  parent = getppid();
  try_one("io_uring_setup", c_io_uring_setup);
  try_one("io_uring_enter", c_io_uring_enter);
  try_one("io_uring_register", c_io_uring_register);
  try_one("userfaultfd", c_userfaultfd);
  try_one("bpf", c_bpf);
  try_one("perf_event_open", c_perf_event_open);
  try_one("keyctl", c_keyctl);
  try_one("add_key", c_add_key);
  try_one("request_key", c_request_key);
  try_one("kexec_load", c_kexec_load);
  try_one("kexec_file_load", c_kexec_file_load);
  try_one("init_module", c_init_module);
  try_one("finit_module", c_finit_module);
  try_one("delete_module", c_delete_module);
  try_one("mount", c_mount);
  try_one("umount2", c_umount2);
  try_one("pivot_root", c_pivot_root);
  try_one("move_mount", c_move_mount);
  try_one("open_tree", c_open_tree);
  try_one("fsopen", c_fsopen);
  try_one("fsconfig", c_fsconfig);
  try_one("fsmount", c_fsmount);
  try_one("unshare_user", c_unshare_user);
  try_one("unshare_net", c_unshare_net);
  try_one("setns", c_setns);
  try_one("clone_newuser", c_clone_newuser);
  try_one("clone_newns", c_clone_newns);
  try_one("clone3", c_clone3);
  try_one("ptrace_attach_parent", c_ptrace_attach_parent);
  try_one("process_vm_readv", c_process_vm_readv);
  try_one("personality_no_aslr", c_personality_no_aslr);
  try_one("personality_read_implies_exec", c_personality_read_implies_exec);
  try_one("modify_ldt", c_modify_ldt);
  try_one("acct", c_acct);
  try_one("swapon", c_swapon);
  try_one("swapoff", c_swapoff);
  try_one("reboot", c_reboot);
  try_one("settimeofday", c_settimeofday);
  try_one("clock_settime", c_clock_settime);
  try_one("sethostname", c_sethostname);
  try_one("socket_af_alg", c_socket_af_alg);
  try_one("socket_af_vsock", c_socket_af_vsock);
  try_one("ioctl_tiocsti", c_ioctl_tiocsti);
  try_one("unknown_syscall", c_unknown_syscall);
  try_one("x32_abi", c_x32_abi);
  try_one("i386_abi", c_i386_abi);
  try_one("fork", c_fork);
  try_one("personality_query", c_personality_query);
  try_one("socket_inet", c_socket_inet);
  return 0;
}
