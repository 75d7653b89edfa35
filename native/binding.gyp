{
  "targets": [
    {
      "target_name": "bpf_subskeletons",
      "type": "none",
      "actions": [
        {
          "action_name": "subskeletons",
          "inputs": [
            "bpf/subskel.sh",
            "bpf/trace.bpf.c",
            "bpf/fault.bpf.c",
            "bpf/fault_base.bpf.c",
            "include/faultc_abi.h",
            "include/faultc_trace.h",
            "include/fault_policy_uapi.h"
          ],
          "outputs": [
            "<(SHARED_INTERMEDIATE_DIR)/faultc/trace.subskel.h",
            "<(SHARED_INTERMEDIATE_DIR)/faultc/fault.subskel.h"
          ],
          "action": [
            "sh",
            "bpf/subskel.sh",
            "<(SHARED_INTERMEDIATE_DIR)/faultc"
          ],
          "message": "bpftool gen subskeleton: trace.bpf.c, fault.bpf.c"
        }
      ]
    },
    {
      "target_name": "faultc_native",
      "sources": [
        "src/addon.cc",
        "src/uffd/engine.c",
        "src/uffd/events.c",
        "src/uffd/fault.c",
        "src/uffd/handler.c",
        "src/uffd/install.c",
        "src/uffd/plan.c",
        "src/uffd/regions.c",
        "src/uffd/sources.c",
        "src/uffd/source_http.c",
        "src/uffd/defer.c",
        "src/uffd/route.c",
        "src/cpu_latency.c",
        "src/uffd_touch.c",
        "src/uffd_binding.cc",
        "src/lib/sets.c",
        "src/uffd_access.c",
        "src/uffd_access_binding.cc",
        "src/bpf_loader.c",
        "src/bpf_binding.cc",
        "src/kernel_engine.c",
        "src/kernel_sets.c",
        "src/kernel_binding.cc",
        "src/probe.c",
        "src/probe_binding.cc",
        "src/criu/lazy_pages.c",
        "src/criu/lp_socket.c",
        "src/criu/lp_holder.c",
        "src/criu/lazy_binding.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "include",
        "src",
        "<(SHARED_INTERMEDIATE_DIR)/faultc"
      ],
      "dependencies": [
        "bpf_subskeletons"
      ],
      "cflags": [
        "-Wall",
        "-Wextra",
        "-O2",
        "-g"
      ],
      "cflags_cc": [
        "-Wall",
        "-O2",
        "-g",
        "-std=c++17"
      ],
      "cflags!": [
        "-fno-exceptions"
      ],
      "cflags_cc!": [
        "-fno-exceptions"
      ],
      "libraries": [
        "-lbpf",
        "-lelf",
        "-lz",
        "-ldl",
        "-lpthread",
        "-lcurl"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS"
      ]
    },
    {
      "target_name": "faultc",
      "product_prefix": "lib",
      "type": "shared_library",
      "sources": [
        "src/lib/faultc_lib.c",
        "src/lib/sets.c",
        "src/lib/faultc_kernel.c",
        "src/kernel_engine.c",
        "src/kernel_sets.c",
        "src/bpf_loader.c",
        "src/uffd/engine.c",
        "src/uffd/events.c",
        "src/uffd/fault.c",
        "src/uffd/handler.c",
        "src/uffd/install.c",
        "src/uffd/plan.c",
        "src/uffd/regions.c",
        "src/uffd/sources.c",
        "src/uffd/source_http.c",
        "src/uffd/defer.c",
        "src/uffd/route.c",
        "src/cpu_latency.c"
      ],
      "include_dirs": [
        "include",
        "src",
        "src/lib",
        "<(SHARED_INTERMEDIATE_DIR)/faultc"
      ],
      "cflags": [
        "-Wall",
        "-Wextra",
        "-O2",
        "-g"
      ],
      "libraries": [
        "-ljansson",
        "-lbpf",
        "-lelf",
        "-lz",
        "-lcurl",
        "-ldl",
        "-lpthread"
      ],
      "dependencies": [
        "bpf_subskeletons"
      ]
    },
    {
      "target_name": "faultc_guard",
      "type": "shared_library",
      "sources": [
        "guard/guard.c",
        "src/lib/faultc_lib.c",
        "src/lib/sets.c",
        "src/lib/faultc_kernel.c",
        "src/kernel_engine.c",
        "src/kernel_sets.c",
        "src/bpf_loader.c",
        "src/uffd/engine.c",
        "src/uffd/events.c",
        "src/uffd/fault.c",
        "src/uffd/handler.c",
        "src/uffd/install.c",
        "src/uffd/plan.c",
        "src/uffd/regions.c",
        "src/uffd/sources.c",
        "src/uffd/source_http.c",
        "src/uffd/defer.c",
        "src/uffd/route.c",
        "src/cpu_latency.c"
      ],
      "include_dirs": [
        "include",
        "src",
        "src/lib",
        "<(SHARED_INTERMEDIATE_DIR)/faultc"
      ],
      "cflags": [
        "-Wall",
        "-Wextra",
        "-O2",
        "-g",
        "-fvisibility=hidden"
      ],
      "libraries": [
        "-ljansson",
        "-lbpf",
        "-lelf",
        "-lz",
        "-lunwind",
        "-lcurl",
        "-ldl",
        "-lpthread"
      ],
      "dependencies": [
        "bpf_subskeletons"
      ]
    }
  ]
}
