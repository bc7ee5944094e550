-- MLflow's tracking store next to the Dagster instance's database (compose.yaml sets FINPULSE_MLFLOW_URI to it).
CREATE DATABASE finpulse_mlflow OWNER finpulse;
