"""What the tests ask the Dagster webserver, over its GraphQL API, the way the UI does."""
import json
import time
import urllib.error
import urllib.request

LOCATION, REPOSITORY = "manymodels", "__repository__"


class DagsterUI:
    def __init__(self, port: int):
        self.url = f"http://127.0.0.1:{port}/graphql"

    def query(self, text: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": text, "variables": variables or {}}).encode()
        request = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
        answer = json.load(urllib.request.urlopen(request, timeout=60))
        assert "errors" not in answer, answer["errors"]
        return answer["data"]

    def wait_until_loaded(self, timeout: float = 180) -> None:
        """Until the code location is loaded (the webserver answers before that)."""
        deadline = time.time() + timeout
        while True:
            try:
                entries = self.query("{ workspaceOrError { ... on Workspace { locationEntries { name "
                                     "locationOrLoadError { __typename } } } } }")["workspaceOrError"]["locationEntries"]
                if entries and entries[0]["locationOrLoadError"]["__typename"] == "RepositoryLocation":
                    return
                assert entries[0]["locationOrLoadError"]["__typename"] != "PythonError", entries
            except (OSError, urllib.error.URLError, KeyError, IndexError, TypeError):
                pass
            assert time.time() < deadline, "the webserver did not load the code location"
            time.sleep(1)

    def start_sensor(self, name: str) -> None:
        data = self.query("""mutation($s: SensorSelector!) { startSensor(sensorSelector: $s) {
            __typename ... on Sensor { sensorState { status } } ... on PythonError { message } } }""",
                          {"s": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY,
                                 "sensorName": name}})["startSensor"]
        assert data["__typename"] == "Sensor" and data["sensorState"]["status"] == "RUNNING", data

    def sensor_ticks(self, name: str) -> list[dict]:
        data = self.query("""query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) {
            ... on Sensor { sensorState { ticks(limit: 50) { status skipReason error { message } } } } } }""",
                          {"s": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY,
                                 "sensorName": name}})
        return data["sensorOrError"]["sensorState"]["ticks"]

    def launch_asset_backfill(self, assets: list[str], partitions: list[str]) -> str:
        data = self.query("""mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
            __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }""",
                          {"p": {"assetSelection": [{"path": [a]} for a in assets],
                                 "partitionNames": partitions}})["launchPartitionBackfill"]
        assert data["__typename"] == "LaunchBackfillSuccess", data
        return data["backfillId"]

    def backfill(self, backfill_id: str) -> dict:
        return self.query("""query($id: String!) { partitionBackfillOrError(backfillId: $id) {
            ... on PartitionBackfill { status runs { runId status tags { key value } } } } }""",
                          {"id": backfill_id})["partitionBackfillOrError"]
