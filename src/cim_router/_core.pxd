# Declarations of the compiled routing core: its constants, structs and every typed field.
# The cdef functions over these fields live in core_c/*.pxi, included by _core.pyx.
cimport cython
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t

# The compiled core's constants, defined once here for C; `_core_common.py` holds them for
# Python under the names `constants()` in _core.pyx maps them to, and a test
# (tests/test_core_constants.py) keeps the two equal.
cdef enum:
    NCH = 6           # channels
    NLEV = 10         # proficiency levels 1..10
    NTIER = 5         # agent tiers 1..5
    MAXSK = 8         # required / preferred skills per interaction
    MAXSTEP = 16      # relaxation steps
    MAXESC = 16       # escalation levels with their own minimum tier
    MAX_SKILL_ID = 1000000
    MAX_ESCALATION = 1000
    MAXGATES = 64     # queue gates per agent
    MAX_GATE_ID = 1000000
    MAX_GATE_RANK = 255

# Agent states, as in cim_router.domain.AgentState.
cdef enum:
    STATE_AVAILABLE = 1
    MAX_STATE = 3

# Why an agent is not eligible for an interaction (see _core_common.REASONS).
cdef enum:
    ELIGIBLE = 0
    NOT_AVAILABLE = 1
    NO_CAPACITY = 2
    SKILL_MISSING = 3
    SKILL_LEVEL = 4
    TIER = 5
    EXCLUDED = 6
    NOT_IN_QUEUE = 7
    QUEUE_DELAY = 8


cdef struct HeapItem:
    double due        # when the interaction's next relaxation step starts
    int64_t seq       # the interaction's arrival number; a mismatch marks the entry stale
    int32_t slot


cdef struct AgentHot:
    # What scoring reads for each candidate, kept on one cache line.
    double idle                    # idle since (seconds)
    double aht[NCH]                # handle-time term ref / (ref + seconds) per channel
    uint8_t tier


@cython.final
cdef class Core:
    cdef readonly object params
    # policy, flattened
    cdef double w_skill, w_pref, w_tier, w_idle, w_aht, w_sticky, w_urgency, w_scarcity
    cdef double scarcity_horizon, sl_weight, sl_horizon
    cdef bint on_time_first
    cdef double promote_after[NCH]  # per channel: the wait from which urgency is PROMOTED+
    cdef double idle_cap, aht_ref, aging_rate, aging_cap, esc_bonus, inv_idle_cap
    cdef double inv_mean[MAXSK + 1]   # 1 / (10 n): mean proficiency over n skills
    cdef int n_relax
    cdef double relax_after[MAXSTEP]
    cdef int relax_drop[MAXSTEP]
    cdef bint relax_drop_pref[MAXSTEP]
    cdef int n_esc
    cdef int esc_min_tier[MAXESC]
    cdef bint exclusive[NCH]
    cdef double aht_seed[NCH]
    cdef int joint_limit

    # --- agents: slot-indexed arrays; bitsets have one bit per slot
    cdef int a_cap, a_words, a_hi, n_agents
    cdef dict agent_index          # id -> slot
    cdef list slot_agent            # slot -> id (None when free)
    cdef list agent_skills         # slot -> tuple of (skill, level)
    cdef list agent_free           # free slots
    cdef uint8_t* a_state
    cdef uint8_t* a_capacity       # slot * NCH + channel
    cdef uint8_t* a_load           # slot * NCH + channel
    cdef AgentHot* a_hot
    cdef uint64_t* a_avail[NCH]    # AVAILABLE with room on the channel
    cdef uint64_t* a_tier_ge[NTIER + 1]   # [t]: tier >= t
    cdef uint64_t* a_scratch
    cdef int32_t** a_gate_list     # [slot]: NULL, or [n, gate, ...] of the gates it serves
    cdef int32_t** a_skill_list    # [slot]: NULL, or [n, skill, ...] in the order given

    # --- per skill, grown as skill ids appear
    cdef int n_skills
    cdef uint8_t** prof            # [s][slot] proficiency, 0 = none
    cdef uint64_t** has            # [s * NLEV + l - 1]: agents with proficiency >= l
    cdef double** aht_skill        # [s][slot * NCH + channel]: term as AgentHot.aht; 0 = unknown
    cdef uint64_t** need           # [s * NLEV + p]: waiting interactions needing > p in s
    cdef int32_t* demand           # [s * (NLEV + 1) + level]: waiting count by effective level
    cdef uint8_t* max_need         # [s]: highest effective level any waiting one needs
    cdef uint64_t** block_buf      # scratch: the need bitsets one decision masks with
    # Demand (core_c/demand.pxi): agents holding each skill, waiting work needing it, and
    # its recent arrivals as a count decaying over the scarcity horizon, as of a time.
    cdef int32_t* sk_agents
    cdef int32_t* sk_waiting
    cdef double* sk_arrivals
    cdef double* sk_arrived_at
    cdef double* sk_press          # a decision's memo of each skill's pressure
    cdef int64_t* sk_press_stamp   # the decision it was computed for
    cdef int64_t press_stamp

    # --- per queue gate, grown as gate ids appear (core_c/gates.pxi)
    cdef int n_gates
    cdef uint64_t** g_agents       # [g]: agents that serve gate g
    cdef uint8_t** g_rank          # [g][slot]: the agent's rank for g, 0 = does not serve it
    cdef double** g_delay          # [g][slot]: seconds g's work waits before the agent takes it
    cdef uint64_t** g_waiting      # [g]: waiting interactions behind gate g
    cdef list gate_delay_count     # [g]: {delay: agents serving g with it}
    cdef list gate_delays          # [g]: those delays, sorted
    # [g]: recent answers within target, recent outcomes (both decaying over the service-
    # level horizon, as of g_as_of), the target share, and the urgency boost they give.
    cdef double* g_hits
    cdef double* g_total
    cdef double* g_as_of
    cdef double* g_share
    cdef double* g_boost

    # --- waiting interactions
    cdef int i_cap, i_words, i_hi, n_waiting
    cdef int64_t next_seq
    cdef double clock              # latest time relaxation has been applied up to
    cdef dict inter_index
    cdef list slot_inter
    cdef list inter_excluded       # slot -> set of agent ids, or None
    cdef list inter_pref_agent     # slot -> preferred agent id ("" for none)
    cdef list inter_free           # free slots
    cdef uint8_t* i_channel
    cdef uint8_t* i_nreq
    cdef uint8_t* i_npref
    cdef uint8_t* i_min_tier
    cdef uint8_t* i_target_tier
    cdef uint8_t* i_step           # relaxation step reflected in the `need` bitsets
    cdef int32_t* i_req_skill      # slot * MAXSK + k
    cdef uint8_t* i_req_level
    cdef int32_t* i_pref_skill
    cdef double* i_base
    cdef double* i_sla             # aging_rate / SLA seconds: aging points per second
    cdef double* i_enq
    cdef double* i_target          # the service-level target, seconds
    cdef int64_t* i_seq
    cdef int32_t* i_gate           # gate id, -1 = none
    cdef uint64_t* i_gated         # waiting ones that have a gate
    cdef int n_gated
    cdef uint64_t* i_waiting_ch[NCH]
    cdef uint64_t* i_need_tier[NTIER + 1]   # [t]: waiting ones that need a tier above t
    cdef uint64_t* i_scratch

    cdef HeapItem* heap
    cdef int heap_n, heap_cap
