import java.nio.file.Paths;
import org.codelibs.elasticsearch.runner.ElasticsearchClusterRunner;

/**
 * Starts one Elasticsearch node through the codelibs runner's Java API: the only way to lift its
 * 9299 port ceiling (setMaxHttpPort) and hand it every node setting from a file.
 * The JVM halts when its standard input closes, so it never outlives the Node process that started it.
 * Usage: java -cp CLASSES:CP ElasticsearchLauncher BASE_PATH SETTINGS_JSON (compiled once per JDK: launcher-classes.ts)
 */
public class ElasticsearchLauncher {
    public static void main(String[] args) throws Exception {
        ElasticsearchClusterRunner runner = new ElasticsearchClusterRunner();
        runner.setMaxHttpPort(-1);
        runner.onBuild((number, settings) -> {
            try {
                settings.loadFromPath(Paths.get(args[1]));
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        runner.build(new ElasticsearchClusterRunner.Configs()
                .basePath(args[0]).numOfNode(1).clusterName("safe-reindex-local").printOnFailure());
        System.out.println("safe-reindex: node started");
        while (System.in.read() != -1) {
            // the parent keeps this pipe open for as long as it lives
        }
        Runtime.getRuntime().halt(0);
    }
}
