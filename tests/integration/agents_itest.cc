// The /agents endpoints against the real server: the default agent made on first use, the
// create/get/patch/delete round trip, isolation between users and every validation refusal.
#include <gtest/gtest.h>

#include "core/ids.h"
#include "support/itest_api.h"

namespace agentd::testing {
namespace {

class AgentsItest : public SharedServerTest {
 protected:
  static void SetUpTestSuite() { StartSharedServer(); }
  static void TearDownTestSuite() { StopSharedServer(); }

  static Response Send(const Api& a, const std::string& method, const std::string& path,
                       const std::string& body = "") {
    Headers headers = a.Auth();
    if (!body.empty()) headers.emplace_back("Content-Type", "application/json");
    return a.http().Request(method, path, headers, body);
  }
  static Response Create(const Api& a, const nlohmann::json& body) {
    return Send(a, "POST", "/agents", body.dump());
  }
  static nlohmann::json CreateOk(const Api& a, const nlohmann::json& body) {
    Response r = Create(a, body);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.Json();
  }
  static std::string Detail(const Response& r) {
    nlohmann::json j = r.Json();
    if (!j.is_object()) return "";
    if (j["detail"].is_string()) return j["detail"];
    return StrAt(j, {"detail", "message"});
  }
};

TEST_F(AgentsItest, ListCreatesAndReturnsTheDefaultAgentOnce) {
  Api a = NewUser();
  Response first = a.Get("/agents");
  ASSERT_EQ(first.status, 200) << first.body;
  nlohmann::json agents = first.Json()["agents"];
  ASSERT_EQ(agents.size(), 1u) << first.body;
  const nlohmann::json def = agents[0];
  EXPECT_TRUE(LooksLikeUuid(def["agent_id"])) << first.body;
  EXPECT_EQ(def["name"], "Default Agent");
  EXPECT_EQ(def["is_default"], true);
  EXPECT_TRUE(def["model"].is_null());
  EXPECT_TRUE(def["mode"].is_null());
  EXPECT_TRUE(def["tools"].is_null());
  EXPECT_EQ(def["description"], "");
  EXPECT_EQ(def["system_prompt"], "");
  EXPECT_TRUE(def["created_at"].is_string());
  EXPECT_TRUE(def["updated_at"].is_string());

  Response again = a.Get("/agents");
  ASSERT_EQ(again.status, 200);
  EXPECT_EQ(again.Json()["agents"], agents);
  // The account now exists, with the default tier's starting credits.
  Response limits = a.Get("/limits");
  ASSERT_EQ(limits.status, 200) << limits.body;
  EXPECT_EQ(limits.Json()["tier"], "free");
}

TEST_F(AgentsItest, AccountFirstSeenByAStartHasADefaultAgent) {
  Api a = NewUser();
  auto started = a.StartOk({{"prompt", "hello"}});
  ASSERT_TRUE(EndsWithTerminal(a.Finish(Str(started["agent_run_id"])), "completed"));
  Response r = a.Get("/agents");
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(r.Json()["agents"].size(), 1u);
  EXPECT_EQ(r.Json()["agents"][0]["is_default"], true);
}

TEST_F(AgentsItest, CreateGetPatchDeleteRoundTrip) {
  Api a = NewUser();
  nlohmann::json created = CreateOk(a, {{"name", "  Coder  "},
                                        {"description", "writes code"},
                                        {"system_prompt", "Be terse."},
                                        {"model", "openai/gpt-5-nano"},
                                        {"mode", "code"},
                                        {"tools", {"ask", "complete", "execute_command"}}});
  const std::string id = Str(created["agent_id"]);
  ASSERT_TRUE(LooksLikeUuid(created["agent_id"])) << created.dump();
  EXPECT_EQ(created["name"], "Coder");
  EXPECT_EQ(created["model"], "openai/gpt-5-nano-2025-08-07");  // canonical name
  EXPECT_EQ(created["mode"], "code");
  EXPECT_EQ(created["tools"], nlohmann::json({"ask", "complete", "execute_command"}));
  EXPECT_EQ(created["is_default"], false);

  Response got = a.Get("/agents/" + id);
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.Json(), created);
  // Upper-case ids name the same agent.
  std::string upper = id;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(a.Get("/agents/" + upper).status, 200);

  Response patched = Send(a, "PATCH", "/agents/" + id,
                          R"({"name": "Chatter", "mode": "chat", "tools": null, "model": null})");
  ASSERT_EQ(patched.status, 200) << patched.body;
  nlohmann::json p = patched.Json();
  EXPECT_EQ(p["name"], "Chatter");
  EXPECT_EQ(p["mode"], "chat");
  EXPECT_TRUE(p["tools"].is_null());
  EXPECT_TRUE(p["model"].is_null());
  EXPECT_EQ(p["description"], "writes code");
  EXPECT_EQ(p["created_at"], created["created_at"]);
  EXPECT_EQ(a.Get("/agents/" + id).Json(), p);

  Response listed = a.Get("/agents");
  ASSERT_EQ(listed.status, 200);
  ASSERT_EQ(listed.Json()["agents"].size(), 2u) << listed.body;
  EXPECT_EQ(listed.Json()["agents"][0]["is_default"], true);
  EXPECT_EQ(listed.Json()["agents"][1]["agent_id"], id);

  Response deleted = Send(a, "DELETE", "/agents/" + id);
  ASSERT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_EQ(deleted.Json()["deleted"], true);
  Response gone = a.Get("/agents/" + id);
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(Detail(gone), "Agent not found");
  EXPECT_EQ(Send(a, "DELETE", "/agents/" + id).status, 404);
}

TEST_F(AgentsItest, IsDefaultMovesTheDefaultAndTheDefaultCannotBeDeletedOrUnset) {
  Api a = NewUser();
  Response list = a.Get("/agents");
  ASSERT_EQ(list.status, 200);
  const std::string first = Str(list.Json()["agents"][0]["agent_id"]);

  Response del = Send(a, "DELETE", "/agents/" + first);
  EXPECT_EQ(del.status, 409) << del.body;
  EXPECT_EQ(Detail(del), "The default agent cannot be deleted");
  EXPECT_EQ(StrAt(del.Json(), {"detail", "error_code"}), "DEFAULT_AGENT_REQUIRED");
  Response unset = Send(a, "PATCH", "/agents/" + first, R"({"is_default": false})");
  EXPECT_EQ(unset.status, 409) << unset.body;

  nlohmann::json second = CreateOk(a, {{"name", "Second"}, {"is_default", true}});
  EXPECT_EQ(second["is_default"], true);
  EXPECT_EQ(a.Get("/agents/" + first).Json()["is_default"], false);
  // The old default can go now; the new one cannot.
  EXPECT_EQ(Send(a, "DELETE", "/agents/" + Str(second["agent_id"])).status, 409);
  Response moved = Send(a, "PATCH", "/agents/" + first, R"({"is_default": true})");
  ASSERT_EQ(moved.status, 200) << moved.body;
  EXPECT_EQ(moved.Json()["is_default"], true);
  EXPECT_EQ(a.Get("/agents/" + Str(second["agent_id"])).Json()["is_default"], false);
  EXPECT_EQ(Send(a, "DELETE", "/agents/" + Str(second["agent_id"])).status, 200);
}

TEST_F(AgentsItest, AnotherUsersAgentIsNotFound) {
  Api owner = NewUser("owner");
  Api other = NewUser("other");
  const std::string id = Str(CreateOk(owner, {{"name", "Private"}})["agent_id"]);
  Response get = other.Get("/agents/" + id);
  EXPECT_EQ(get.status, 404) << get.body;
  EXPECT_EQ(Detail(get), "Agent not found");
  Response patch = Send(other, "PATCH", "/agents/" + id, R"({"name": "Mine now"})");
  EXPECT_EQ(patch.status, 404) << patch.body;
  EXPECT_EQ(Detail(patch), "Agent not found");
  Response del = Send(other, "DELETE", "/agents/" + id);
  EXPECT_EQ(del.status, 404) << del.body;
  EXPECT_EQ(Detail(del), "Agent not found");
  Response still = owner.Get("/agents/" + id);
  ASSERT_EQ(still.status, 200);
  EXPECT_EQ(still.Json()["name"], "Private");
  // The owner's default agent is not visible to the other user either.
  Response theirs = other.Get("/agents");
  ASSERT_EQ(theirs.status, 200);
  const nlohmann::json their_agents = theirs.Json()["agents"];
  for (const auto& agent : their_agents) EXPECT_NE(agent["agent_id"], id);
  EXPECT_EQ(other.Get("/agents/" + NewUuid()).status, 404);
}

TEST_F(AgentsItest, ValidationErrorsAre400WithClearMessages) {
  Api a = NewUser();
  const std::string existing = Str(CreateOk(a, {{"name", "Target"}})["agent_id"]);
  struct Case {
    std::string body;
    std::string detail;
  };
  const std::vector<Case> create_cases = {
      {R"({"name": "x", "model": "nope/model"})", "Unknown model: nope/model"},
      {R"({"name": "x", "mode": "dance"})", "Unknown mode: dance"},
      {R"({"name": "x", "tools": ["ask", "teleport"]})", "Unknown tool: teleport"},
      {R"({"name": "x", "tools": ["ask", "ask"]})", "Duplicate tool: ask"},
      {R"({"name": "x", "tools": "ask"})", "tools must be an array of tool names or null"},
      {R"({"name": "x", "colour": "red"})", "Unknown field: colour"},
      {R"({"name": "x", "is_default": "yes"})", "is_default must be a boolean"},
      {R"({"name": "   "})", "name must not be empty"},
      {R"({"name": 7})", "name must be a string"},
      {R"({"description": "no name"})", "name required"},
      {R"({"name": "x",)", "Request body is not valid JSON"},
      {R"(["name", "x"])", "Request body must be a JSON object"},
      {"", "Request body must be a JSON object"},
      {nlohmann::json({{"name", std::string(201, 'n')}}).dump(),
       "name must be at most 200 characters"},
      {nlohmann::json({{"name", "x"}, {"description", std::string(2001, 'd')}}).dump(),
       "description must be at most 2000 characters"},
      {nlohmann::json({{"name", "x"}, {"system_prompt", std::string(100001, 's')}}).dump(),
       "system_prompt must be at most 100000 characters"},
  };
  for (const Case& c : create_cases) {
    Response r = Send(a, "POST", "/agents", c.body);
    EXPECT_EQ(r.status, 400) << c.body.substr(0, 80) << " -> " << r.body.substr(0, 200);
    EXPECT_EQ(Detail(r), c.detail) << c.body.substr(0, 80);
  }
  for (const Case& c : create_cases) {
    if (c.detail == "name required") continue;  // a patch needs no name
    Response r = Send(a, "PATCH", "/agents/" + existing, c.body);
    EXPECT_EQ(r.status, 400) << "PATCH " << c.body.substr(0, 80) << " -> " << r.body.substr(0, 200);
    EXPECT_EQ(Detail(r), c.detail) << "PATCH " << c.body.substr(0, 80);
  }
  // Nothing of the refused requests was written.
  Response list = a.Get("/agents");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.Json()["agents"].size(), 2u) << list.body;
  EXPECT_EQ(a.Get("/agents/" + existing).Json()["name"], "Target");
}

TEST_F(AgentsItest, MalformedAgentIdIs400InvalidUuidFormat) {
  Api a = NewUser();
  for (const std::string method : {"GET", "PATCH", "DELETE"}) {
    Response r = Send(a, method, "/agents/not-a-uuid", method == "PATCH" ? R"({"name":"x"})" : "");
    EXPECT_EQ(r.status, 400) << method << " " << r.body;
    EXPECT_EQ(Detail(r), "Invalid UUID format") << method;
  }
}

TEST_F(AgentsItest, MissingTokenIs401) {
  Api a = NewUser();
  HttpClient anonymous(server()->base_url());
  EXPECT_EQ(anonymous.Request("GET", "/agents", {}).status, 401);
  EXPECT_EQ(anonymous.Request("POST", "/agents", {}, R"({"name":"x"})").status, 401);
  EXPECT_EQ(anonymous.Request("DELETE", "/agents/" + NewUuid(), {}).status, 401);
}

}  // namespace
}  // namespace agentd::testing
