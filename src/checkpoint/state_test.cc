#include "checkpoint/state.h"

#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace lifeboat::checkpoint {
namespace {

using std::chrono::seconds;

// The DESIGN §2 table written out cell by cell. '*' matches anything.
//   col: "down" = API unavailable (P ignored), "P" = API up and parent present, "noP" = API up, parent gone
//   R: '0' '1' '*'; L: '0' '1' '?' (kubelet unreadable) '*'; C (a checkpoint on disk or written
//   this tick): '0' '1' '*'; passed: grace deadline passed '0' '1' '*'
//   deadline of the result: "keep" = unchanged, "grace" = now + grace, "now" = now, "" = none
struct Row {
  const char* from;
  const char* col;
  char r, l, c, passed;
  const char* to;
  const char* deadline;
};

constexpr Row kTable[] = {
    // none: C and (R or L) -> evaluate as inactive; else stay. Without a checkpoint there is
    // nothing to start (started with the API unreachable and an empty disk).
    {"none", "*", '*', '*', '0', '*', "none", ""},
    {"none", "down", '1', '*', '1', '*', "inactive", ""},
    {"none", "P", '1', '*', '1', '*', "inactive", ""},
    {"none", "noP", '1', '*', '1', '*', "inactive-grace", "grace"},
    {"none", "down", '0', '1', '1', '*', "active", ""},
    {"none", "P", '0', '1', '1', '*', "active", ""},
    {"none", "noP", '0', '1', '1', '*', "inactive-grace", "grace"},
    {"none", "*", '0', '0', '1', '*', "none", ""},
    {"none", "*", '0', '?', '1', '*', "none", ""},
    // inactive (stop)
    {"inactive", "down", '1', '*', '*', '*', "inactive", ""},
    {"inactive", "down", '0', '*', '*', '*', "active", ""},
    {"inactive", "P", '1', '*', '*', '*', "inactive", ""},
    {"inactive", "P", '0', '*', '*', '*', "active", ""},
    {"inactive", "noP", '*', '*', '*', '*', "inactive-grace", "grace"},
    // inactive-grace (stop)
    {"inactive-grace", "down", '1', '*', '*', '0', "inactive-grace", "keep"},
    {"inactive-grace", "down", '1', '*', '*', '1', "remove", ""},
    {"inactive-grace", "down", '0', '*', '*', '*', "active", ""},
    {"inactive-grace", "P", '1', '*', '*', '*', "inactive", ""},
    {"inactive-grace", "P", '0', '*', '*', '*', "active", ""},
    {"inactive-grace", "noP", '*', '*', '*', '0', "inactive-grace", "keep"},
    {"inactive-grace", "noP", '*', '*', '*', '1', "remove", ""},
    // active (start)
    {"active", "down", '1', '*', '*', '*', "inactive", ""},
    {"active", "down", '0', '*', '*', '*', "active", ""},
    {"active", "P", '1', '*', '*', '*', "inactive", ""},
    {"active", "P", '0', '*', '*', '*', "active", ""},
    {"active", "noP", '*', '*', '*', '*', "active-grace", "grace"},
    // active-grace (start); past the deadline it is evaluated as inactive-grace(now).
    {"active-grace", "down", '1', '*', '*', '*', "inactive", ""},
    {"active-grace", "down", '0', '*', '*', '0', "active-grace", "keep"},
    {"active-grace", "down", '0', '*', '*', '1', "active", ""},
    {"active-grace", "P", '1', '*', '*', '*', "inactive", ""},
    {"active-grace", "P", '0', '*', '*', '*', "active", ""},
    {"active-grace", "noP", '*', '*', '*', '0', "active-grace", "keep"},
    {"active-grace", "noP", '*', '*', '*', '1', "inactive-grace", "now"},
    // remove: terminal
    {"remove", "*", '*', '*', '*', '*', "remove", ""},
};

// The checkpointer's own checkpoint.
constexpr Row kSelfTable[] = {
    {"none", "*", '*', '*', '0', '*', "none", ""},
    {"remove", "*", '*', '*', '*', '*', "remove", ""},
    {"none", "*", '0', '0', '1', '*', "none", ""},
    {"none", "*", '0', '?', '1', '*', "none", ""},
    {"none", "down", '1', '*', '1', '*', "active", ""},
    {"none", "down", '0', '1', '1', '*', "active", ""},
    {"none", "P", '1', '*', '1', '*', "active", ""},
    {"none", "P", '0', '1', '1', '*', "active", ""},
    {"none", "noP", '1', '*', '1', '*', "active-grace", "grace"},
    {"none", "noP", '0', '1', '1', '*', "active-grace", "grace"},
    {"inactive", "down", '*', '*', '*', '*', "active", ""},
    {"inactive", "P", '*', '*', '*', '*', "active", ""},
    {"inactive", "noP", '*', '*', '*', '*', "active-grace", "grace"},
    {"inactive-grace", "down", '*', '*', '*', '*', "active", ""},
    {"inactive-grace", "P", '*', '*', '*', '*', "active", ""},
    {"inactive-grace", "noP", '*', '*', '*', '*', "active-grace", "grace"},
    {"active", "down", '*', '*', '*', '*', "active", ""},
    {"active", "P", '*', '*', '*', '*', "active", ""},
    {"active", "noP", '*', '*', '*', '*', "active-grace", "grace"},
    {"active-grace", "down", '*', '*', '*', '*', "active", ""},
    {"active-grace", "P", '*', '*', '*', '*', "active", ""},
    {"active-grace", "noP", '*', '*', '*', '0', "active-grace", "keep"},
    {"active-grace", "noP", '*', '*', '*', '1', "remove", ""},
};

constexpr State kStates[] = {State::kNone,   State::kInactive,    State::kInactiveGrace,
                             State::kActive, State::kActiveGrace, State::kRemove};

bool Match(char pattern, char value) { return pattern == '*' || pattern == value; }

template <size_t N>
const Row* Find(const Row (&table)[N], State from, const std::string& col, char r, char l, char c,
                char passed, int* matches) {
  const Row* found = nullptr;
  *matches = 0;
  for (const Row& row : table) {
    if (row.from != std::string(StateName(from))) continue;
    if (std::string(row.col) != "*" && row.col != col) continue;
    if (!Match(row.r, r) || !Match(row.l, l) || !Match(row.c, c) || !Match(row.passed, passed)) continue;
    ++*matches;
    found = &row;
  }
  return found;
}

template <size_t N>
void CheckEveryCombination(const Row (&table)[N], bool self) {
  const Time now = Time{} + std::chrono::hours(1);
  const Duration grace = seconds(60);
  int checked = 0;
  for (State from : kStates) {
    for (int a = 0; a < 2; ++a) {
      for (int p = 0; p < 2; ++p) {
        for (int r = 0; r < 2; ++r) {
          for (char l : {'0', '1', '?'}) {
            for (int c = 0; c < 2; ++c) {
            for (int passed = 0; passed < 2; ++passed) {
              CheckpointState st{from, passed ? now - seconds(1) : now + seconds(1)};
              Inputs in;
              in.api_available = a;
              in.parent_in_api = p;
              in.running = r;
              if (l != '?') in.kubelet_knows = (l == '1');
              in.has_checkpoint = c;
              std::string col = !a ? "down" : p ? "P" : "noP";
              std::string where = absl::StrCat(self ? "self " : "", StateName(from), " A=", a, " P=", p,
                                               " R=", r, " L=", std::string(1, l), " C=", c, " passed=", passed);
              int matches = 0;
              const Row* row = Find(table, from, col, '0' + r, l, '0' + c, '0' + passed, &matches);
              ASSERT_EQ(matches, 1) << "table rows matching " << where;
              CheckpointState got = self ? TransitionSelf(st, in, now, grace) : Transition(st, in, now, grace);
              EXPECT_EQ(StateName(got.state), std::string(row->to)) << where;
              std::string d = row->deadline;
              if (d == "keep") {
                EXPECT_EQ(got.deadline, st.deadline) << where;
              } else if (d == "grace") {
                EXPECT_EQ(got.deadline, now + grace) << where;
              } else if (d == "now") {
                EXPECT_EQ(got.deadline, now) << where;
              }
              EXPECT_EQ(got.HasDeadline(), !d.empty()) << where;
              ++checked;
            }
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(checked, 6 * 2 * 2 * 2 * 3 * 2 * 2);
}

TEST(TransitionTest, EveryStateAndInputMatchesTheDesignTable) { CheckEveryCombination(kTable, false); }

TEST(TransitionTest, OwnCheckpointEveryStateAndInput) { CheckEveryCombination(kSelfTable, true); }

TEST(TransitionTest, ExactlyAtTheDeadlineIsNotPassed) {
  Time now = Time{} + seconds(100);
  Inputs in{.api_available = true, .parent_in_api = false, .running = false, .kubelet_knows = true};
  EXPECT_EQ(Transition({State::kInactiveGrace, now}, in, now, seconds(5)).state, State::kInactiveGrace);
  EXPECT_EQ(Transition({State::kInactiveGrace, now}, in, now + Duration(1), seconds(5)).state, State::kRemove);
}

TEST(TransitionTest, ZeroGraceRemovesOnTheNextTick) {
  Time now = Time{} + seconds(100);
  Inputs in{.api_available = true, .parent_in_api = false, .running = false, .kubelet_knows = true};
  CheckpointState s = Transition({State::kInactive}, in, now, Duration::zero());
  EXPECT_EQ(s.state, State::kInactiveGrace);
  EXPECT_EQ(Transition(s, in, now + seconds(1), Duration::zero()).state, State::kRemove);
}

TEST(TransitionTest, Actions) {
  EXPECT_EQ(ActionOf(State::kNone), Action::kNone);
  EXPECT_EQ(ActionOf(State::kInactive), Action::kStop);
  EXPECT_EQ(ActionOf(State::kInactiveGrace), Action::kStop);
  EXPECT_EQ(ActionOf(State::kActive), Action::kStart);
  EXPECT_EQ(ActionOf(State::kActiveGrace), Action::kStart);
  EXPECT_EQ(ActionOf(State::kRemove), Action::kRemove);
}

// --- Decide: the whole tick ---

const PodId kApi{"kube-system", "kube-apiserver-x"};
const PodId kSched{"kube-system", "kube-scheduler-y"};
const PodId kSelf{"kube-system", "pod-checkpointer-z"};

class DecideTest : public ::testing::Test {
 protected:
  DecideTest() {
    states_.grace = seconds(30);
    states_.self = kSelf;
  }
  Plan Tick(const Observation& obs) {
    now_ += seconds(1);
    return Decide(obs, states_, now_);
  }
  State StateOf(const PodId& id) {
    auto it = states_.by_id.find(id);
    return it == states_.by_id.end() ? State::kNone : it->second.state;
  }
  static Observation Healthy(std::set<PodId> parents) {
    Observation o;
    o.api_available = true;
    o.api_parents = parents;
    o.running = parents;
    o.kubelet_parents = parents;
    return o;
  }
  CheckpointStates states_;
  Time now_ = Time{} + std::chrono::hours(1);
};

std::vector<std::string> Actions(const Plan& p) {
  std::vector<std::string> out;
  for (const auto& a : p.actions) out.push_back(absl::StrCat(ActionName(a.action), " ", a.id.name));
  return out;
}

TEST_F(DecideTest, NewParentsBecomeInactiveAndAreCheckpointedOwnIsActive) {
  Plan p = Tick(Healthy({kApi, kSelf}));
  EXPECT_FALSE(p.frozen);
  EXPECT_EQ(StateOf(kApi), State::kInactive);
  EXPECT_EQ(StateOf(kSelf), State::kActive);
  EXPECT_EQ(Actions(p), (std::vector<std::string>{"stop kube-apiserver-x", "start pod-checkpointer-z"}));
  EXPECT_EQ(p.checkpoint, (std::vector<PodId>{kApi, kSelf}));
  // Steady state: nothing to do but refresh.
  p = Tick(Healthy({kApi, kSelf}));
  EXPECT_TRUE(p.changes.empty());
  EXPECT_TRUE(p.actions.empty());
  EXPECT_EQ(p.checkpoint.size(), 2u);
}

TEST_F(DecideTest, ParentLostWhileApiDownIsActivatedThenDeactivatedWhenBack) {
  Tick(Healthy({kApi, kSelf}));
  Observation down;
  down.running = std::set<PodId>{kSelf};
  down.kubelet_parents = std::set<PodId>{};
  Plan p = Tick(down);
  EXPECT_EQ(StateOf(kApi), State::kActive);
  EXPECT_EQ(Actions(p), std::vector<std::string>{"start kube-apiserver-x"});
  EXPECT_TRUE(p.checkpoint.empty()) << "nothing is written without the API";
  p = Tick(Healthy({kApi, kSelf}));
  EXPECT_EQ(StateOf(kApi), State::kInactive);
  EXPECT_EQ(Actions(p), std::vector<std::string>{"stop kube-apiserver-x"});
}

TEST_F(DecideTest, UnreadableRuntimeFreezesEverything) {
  Tick(Healthy({kApi, kSelf}));
  auto before = states_.by_id;
  Observation o = Healthy({kSelf});  // the API parent vanished too: still nothing may change
  o.running.reset();
  Plan p = Tick(o);
  EXPECT_TRUE(p.frozen);
  EXPECT_FALSE(p.frozen_reason.empty());
  EXPECT_TRUE(p.actions.empty());
  EXPECT_TRUE(p.changes.empty());
  EXPECT_TRUE(p.checkpoint.empty());
  EXPECT_EQ(states_.by_id, before);
}

TEST_F(DecideTest, UnreadableKubeletKeepsNewParentsUndecidedButOthersProceed) {
  states_.by_id[kApi] = {State::kInactive};
  Observation o;
  o.running = std::set<PodId>{};
  o.kubelet_parents.reset();
  states_.by_id[kSched] = {State::kNone};
  Plan p = Tick(o);
  EXPECT_EQ(StateOf(kSched), State::kNone);
  EXPECT_EQ(StateOf(kApi), State::kActive) << "L does not decide for an inactive checkpoint";
  EXPECT_EQ(Actions(p), std::vector<std::string>{"start kube-apiserver-x"});
}

TEST_F(DecideTest, ResumesFromDisk) {
  Observation o;
  o.running = std::set<PodId>{};
  o.kubelet_parents = std::set<PodId>{};
  o.inactive_on_disk = {kApi, kSched, kSelf};
  o.active_on_disk = {kSched, kSelf};
  Plan p = Tick(o);
  // The API is down and nothing runs: the inactive one starts, the active ones stay; no action
  // for what is already in place.
  EXPECT_EQ(StateOf(kApi), State::kActive);
  EXPECT_EQ(StateOf(kSched), State::kActive);
  EXPECT_EQ(StateOf(kSelf), State::kActive);
  EXPECT_EQ(Actions(p), std::vector<std::string>{"start kube-apiserver-x"});
  int resumed = 0;
  for (const auto& c : p.changes) resumed += c.resumed;
  EXPECT_EQ(resumed, 3);
}

TEST_F(DecideTest, DeletedParentRemovedAfterGraceAndForgotten) {
  Tick(Healthy({kApi, kSelf}));
  Observation gone = Healthy({kSelf});
  Plan p = Tick(gone);
  EXPECT_EQ(StateOf(kApi), State::kInactiveGrace);
  EXPECT_TRUE(p.actions.empty()) << "inactive -> inactive-grace keeps the stop action";
  now_ += seconds(29);
  Tick(gone);
  EXPECT_EQ(StateOf(kApi), State::kInactiveGrace);
  now_ += seconds(1);
  p = Tick(gone);
  EXPECT_EQ(StateOf(kApi), State::kRemove);
  EXPECT_EQ(Actions(p), std::vector<std::string>{"remove kube-apiserver-x"});
  p = Tick(gone);
  EXPECT_EQ(states_.by_id.count(kApi), 0u);
  EXPECT_TRUE(p.actions.empty());
}

TEST_F(DecideTest, OwnParentGoneRemovesEveryoneElseFirstThenItself) {
  Tick(Healthy({kApi, kSched, kSelf}));
  Observation o = Healthy({kApi, kSched});
  o.running = std::set<PodId>{kApi, kSched, kSelf};
  o.kubelet_parents = std::set<PodId>{kApi, kSched, kSelf};
  Plan p = Tick(o);
  EXPECT_EQ(StateOf(kSelf), State::kActiveGrace);
  EXPECT_TRUE(p.checkpoint.empty()) << "no checkpoint is written while we are being retired";
  now_ += seconds(31);
  p = Tick(o);
  EXPECT_EQ(Actions(p), (std::vector<std::string>{"remove kube-apiserver-x", "remove kube-scheduler-y",
                                                  "remove pod-checkpointer-z"}));
  p = Tick(o);
  EXPECT_TRUE(states_.by_id.empty()) << "retired: the kubelet's parents get no new checkpoints";
  EXPECT_TRUE(p.actions.empty());
}

TEST_F(DecideTest, OwnCheckpointStaysActiveWhileApiDown) {
  Tick(Healthy({kApi, kSelf}));
  Observation down;
  down.running = std::set<PodId>{kApi, kSelf};
  down.kubelet_parents = std::set<PodId>{kApi, kSelf};
  for (int i = 0; i < 5; ++i) {
    now_ += std::chrono::minutes(10);
    EXPECT_TRUE(Tick(down).actions.empty());
    EXPECT_EQ(StateOf(kSelf), State::kActive);
    EXPECT_EQ(StateOf(kApi), State::kInactive);
  }
}

TEST_F(DecideTest, ParentTheKubeletForgotWithoutCheckpointLeavesNoState) {
  states_.self.reset();
  Observation o = Healthy({kApi});
  o.kubelet_parents = std::set<PodId>{kApi};
  o.running = std::set<PodId>{};
  o.api_available = true;
  o.api_parents = {kApi};
  // Kubelet knows it, not yet running: upstream activates the checkpoint at once.
  Plan p = Tick(o);
  EXPECT_EQ(StateOf(kApi), State::kActive);
  Observation none;
  none.running = std::set<PodId>{};
  none.kubelet_parents = std::set<PodId>{kSched};
  none.api_available = true;
  states_.by_id[kSched] = {State::kNone};
  none.kubelet_parents = std::set<PodId>{};
  Tick(none);
  EXPECT_EQ(states_.by_id.count(kSched), 0u);
}

TEST_F(DecideTest, ApiUnreachableAndEmptyDiskAttemptsNothingUntilTheApiAnswers) {
  // The kubelet knows our own pod and the API server's (it learnt them before the API went away),
  // they run or not: without a checkpoint on disk there is nothing to start or stop.
  Observation down;
  down.running = std::set<PodId>{kSelf};
  down.kubelet_parents = std::set<PodId>{kApi, kSelf};
  for (int i = 0; i < 3; ++i) {
    Plan p = Tick(down);
    EXPECT_TRUE(p.actions.empty()) << "tick " << i;
    EXPECT_TRUE(p.changes.empty()) << "tick " << i;
    EXPECT_TRUE(p.checkpoint.empty()) << "tick " << i;
  }
  // The API answers: checkpoints are written and acted on in that very tick.
  Observation up = down;
  up.api_available = true;
  up.api_parents = {kApi, kSelf};
  Plan p = Tick(up);
  EXPECT_EQ(p.checkpoint, (std::vector<PodId>{kApi, kSelf}));
  EXPECT_EQ(StateOf(kSelf), State::kActive);
  EXPECT_EQ(StateOf(kApi), State::kActive) << "known to the kubelet, not running: upstream activates it";
  EXPECT_EQ(Actions(p), (std::vector<std::string>{"start kube-apiserver-x", "start pod-checkpointer-z"}));
}

TEST_F(DecideTest, RunningApiParentGetsACheckpointWhenTheKubeletCannotBeRead) {
  Observation o = Healthy({kApi, kSelf});
  o.kubelet_parents.reset();
  Plan p = Tick(o);
  EXPECT_EQ(StateOf(kApi), State::kInactive);
  EXPECT_EQ(StateOf(kSelf), State::kActive);
  EXPECT_EQ(p.checkpoint, (std::vector<PodId>{kApi, kSelf}));
}

TEST_F(DecideTest, PendingApiParentIsNotCheckpointedUntilTheKubeletKnowsIt) {
  Observation o = Healthy({kSelf});
  o.api_parents.insert(kApi);  // bound to this node, not yet picked up by the kubelet
  Plan p = Tick(o);
  EXPECT_EQ(states_.by_id.count(kApi), 0u);
  EXPECT_EQ(p.checkpoint, (std::vector<PodId>{kSelf}));
}

TEST_F(DecideTest, KubeletDecidesForParentsThatAreNotRunningAndUndecided) {
  Observation o = Healthy({kApi, kSelf});
  Tick(o);
  EXPECT_FALSE(KubeletDecides(o, states_)) << "steady state needs only A, P and R";
  Observation down;
  down.running = std::set<PodId>{kSelf};
  EXPECT_FALSE(KubeletDecides(down, states_)) << "a stopped parent with a checkpoint: R decides";
  Observation pending = Healthy({kApi, kSelf});
  pending.api_parents.insert(kSched);  // bound to this node, not running, no state yet
  EXPECT_TRUE(KubeletDecides(pending, states_));
  pending.inactive_on_disk.insert(kSched);  // resumed from disk as inactive: R decides
  EXPECT_FALSE(KubeletDecides(pending, states_));
  states_.by_id[kSched] = {State::kNone};
  EXPECT_TRUE(KubeletDecides(pending, states_)) << "a checkpoint in state none, its parent not running";
  pending.running->insert(kSched);
  EXPECT_FALSE(KubeletDecides(pending, states_));
  pending.running.reset();
  EXPECT_FALSE(KubeletDecides(pending, states_)) << "frozen: nothing changes";
}

// The promise KubeletDecides makes: when it says false, Decide does the same whatever the kubelet
// says (or whether it could be read), up to state-none entries, which act on nothing. Checked on
// random states and observations over three parents.
TEST(KubeletDecidesTest, WhenFalseTheKubeletsAnswerChangesNoDecision) {
  const std::vector<PodId> ids = {{"kube-system", "a"}, {"kube-system", "b"}, {"kube-system", "c"}};
  std::mt19937 rng(15);
  auto subset = [&](unsigned bits) {
    std::set<PodId> out;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (bits & (1u << i)) out.insert(ids[i]);
    }
    return out;
  };
  auto decided = [](const CheckpointStates& s) {
    std::map<PodId, CheckpointState> out;
    for (const auto& [id, st] : s.by_id) {
      if (st.state != State::kNone) out[id] = st;
    }
    return out;
  };
  auto summary = [](const Plan& p) {
    std::vector<std::string> out;
    for (const auto& c : p.changes) {
      if (c.from.state != State::kNone || c.to.state != State::kNone) {
        out.push_back(absl::StrCat("change ", c.id.name, " ", StateName(c.from.state), " ",
                                   StateName(c.to.state), " ", c.resumed));
      }
    }
    for (const auto& a : p.actions) out.push_back(absl::StrCat("action ", a.id.name, " ", ActionName(a.action)));
    for (const auto& id : p.checkpoint) out.push_back(absl::StrCat("write ", id.name));
    return out;
  };
  const Time now = Time{} + std::chrono::hours(1);
  int checked = 0, decides = 0;
  for (int round = 0; round < 20000; ++round) {
    CheckpointStates states;
    states.grace = std::chrono::seconds(30);
    if (rng() % 2) states.self = ids[rng() % ids.size()];
    for (const PodId& id : ids) {
      int s = static_cast<int>(rng() % 7);  // 6: no state
      if (s == 6) continue;
      Time deadline = now + std::chrono::seconds(static_cast<int>(rng() % 3) - 1);
      states.by_id[id] = {static_cast<State>(s), deadline};
    }
    Observation obs;
    obs.api_available = rng() % 2;
    if (obs.api_available) obs.api_parents = subset(rng() % 8);
    obs.running = subset(rng() % 8);
    obs.inactive_on_disk = subset(rng() % 8);
    obs.active_on_disk = subset(rng() % 8);
    if (KubeletDecides(obs, states)) {
      ++decides;
      continue;
    }
    ++checked;
    std::optional<std::vector<std::string>> first_plan;
    std::map<PodId, CheckpointState> first_states;
    for (unsigned l = 0; l <= 8; ++l) {
      Observation with = obs;
      if (l < 8) {
        with.kubelet_parents = subset(l);
      } else {
        with.kubelet_parents.reset();
      }
      CheckpointStates s = states;
      auto plan = summary(Decide(with, s, now));
      if (!first_plan) {
        first_plan = plan;
        first_states = decided(s);
        continue;
      }
      ASSERT_EQ(plan, *first_plan) << "round " << round << ", kubelet answer " << l;
      ASSERT_EQ(decided(s), first_states) << "round " << round << ", kubelet answer " << l;
    }
  }
  // Both outcomes were exercised.
  EXPECT_GT(checked, 1000);
  EXPECT_GT(decides, 1000);
}

}  // namespace
}  // namespace lifeboat::checkpoint
